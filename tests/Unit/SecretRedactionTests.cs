using System.Diagnostics;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>Free-text and structural redaction of every form a secret was found to take in the wild.</summary>
public class SecretRedactionTests
{
    /// <summary>Text in which a secret appears, and the secret.</summary>
    public static TheoryData<string, string> FreeTextForms() => new()
    {
        { "pass: hunter2-pass", "hunter2-pass" },
        { "db_pass: hunter2-dbpass", "hunter2-dbpass" },
        { "jwt_signing_key: sk-signing-9f8e7d", "sk-signing-9f8e7d" },
        { "password: 'single quoted secret'", "single quoted secret" },
        { "password: \"double quoted secret\"", "double quoted secret" },
        { "password: ab;cd@ef-semicolon", "ab;cd@ef-semicolon" },
        { "DB_PASSWORD=ab;cd@ef-env", "ab;cd@ef-env" },
        { "export API_TOKEN=exported-token-1", "exported-token-1" },
        { "Authorization: token ghp_headertoken123", "ghp_headertoken123" },
        { "Authorization: Bearer eyJheaderbearer.x.y", "eyJheaderbearer.x.y" },
        { "curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='", "dXNlcjpwYXNzd29yZA==" },
        { "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig=SASsignatureABC%3D&se=2030", "SASsignatureABC%3D" },
        { "git push https://ghp_tokenAsUserName@github.com/org/repo.git", "ghp_tokenAsUserName" },
        { "postgres://admin:pg-url-pass@db:5432/app", "pg-url-pass" },
        { "GET http://127.0.0.1:8080/health?token=health-query-token", "health-query-token" },
        { "Host=db;Username=app;Password=conn-string-pass;Database=x", "conn-string-pass" },
        { "{\"client_secret\": \"json-client-secret\"}", "json-client-secret" },
        { "ConnectionStrings__App=Host=db;Password=nested-conn-pass", "nested-conn-pass" },
        { "tls_private_key: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MIIEpemBodyLine1\n  pemBodyLine2\n  -----END RSA PRIVATE KEY-----\nnext: 1", "MIIEpemBodyLine1" },
        { "certificate_secret: >\n  folded secret line one\n  folded line two\nnext: 1", "folded secret line one" },
        { "-----BEGIN PRIVATE KEY-----\nMIIbarePemBody\n", "MIIbarePemBody" },
        { "--password=cli-password-1 --user x", "cli-password-1" },
        { "app --db-password cli-separate-2 --user x", "cli-separate-2" },
        { "container app: args [\"--token=a\",\"--db-password\",\"pod-arg-secret-3\"] -> [\"--db-password\",\"x\"]", "pod-arg-secret-3" },
        { "container app: env DATABASE_URL postgres://app:pod-env-url-4@db/shop -> postgres://app:y@db/shop", "pod-env-url-4" },
        { "b0371b1 Release v2 token: commit-subject-5", "commit-subject-5" },
        { "{\"last-applied\": \"{\\u0022args\\u0022:[\\u0022--db-password\\u0022,\\u0022escaped-arg-6\\u0022]}\"}", "escaped-arg-6" },
        { "[\\\"--db-password\\\", \\\"backslash-quoted-7\\\"]", "backslash-quoted-7" },
    };

    [Theory]
    [MemberData(nameof(FreeTextForms))]
    public void Free_text_never_keeps_the_secret(string text, string secret)
    {
        var redacted = SecretRedactor.Redact(text);

        Assert.DoesNotContain(secret, redacted);
        Assert.Contains(SecretRedactor.Mask, redacted);
    }

    [Theory]
    [InlineData("timeout: 30")]
    [InlineData("passenger_count: 4")]
    [InlineData("primary_key: id")]
    [InlineData("compass: north")]
    [InlineData("https://example.com/path?page=2")]
    [InlineData("app --password-file /run/secrets/db --user x")]
    [InlineData("app --token --verbose")]
    public void Ordinary_text_is_kept(string text) => Assert.Equal(text, SecretRedactor.Redact(text));

    [Fact]
    public void Keeps_the_scheme_and_the_rest_of_the_document()
    {
        Assert.Equal("Authorization: token " + SecretRedactor.Mask, SecretRedactor.Redact("Authorization: token abc123def456"));
        Assert.Equal("tls_private_key: " + SecretRedactor.Mask + "\nnext: 1",
            SecretRedactor.Redact("tls_private_key: |\n  -----BEGIN RSA PRIVATE KEY-----\n  body\n  -----END RSA PRIVATE KEY-----\nnext: 1"));
    }

    [Fact]
    public void A_long_token_like_line_is_redacted_in_linear_time()
    {
        // 40 KB of name characters (and of a token after a secret key) made the old patterns quadratic: 16 s.
        var line = new string('a', 40_000);
        var assignment = "token=" + new string('b', 40_000);
        var url = "https://" + new string('c', 40_000);

        var watch = Stopwatch.StartNew();
        Assert.Equal(line, SecretRedactor.Redact(line));
        Assert.Equal("token=" + SecretRedactor.Mask, SecretRedactor.Redact(assignment));
        Assert.Equal(url, SecretRedactor.Redact(url));
        watch.Stop();

        // A sanity bound only, loose for a loaded machine (the measured time is a few milliseconds); quadratic behaviour took 16 s.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(8), $"took {watch.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Theory]
    [InlineData("app.yml", "database:\n  host: db\n  password: db-pass-1\nredis:\n  password: redis-pass-2\n", "database.password,redis.password")]
    [InlineData("app.json", "{\n  // comment\n  \"Database\": { \"Password\": \"db-pass-1\" },\n  \"Redis\": { \"Password\": \"redis-pass-2\", },\n}", "Database.Password,Redis.Password")]
    [InlineData("app.ini", "[database]\npassword = db-pass-1\n[redis]\npassword = redis-pass-2\n", "database.password,redis.password")]
    [InlineData(".env", "DB_PASSWORD=db-pass-1\nexport REDIS_PASSWORD=\"redis-pass-2\"\n", "DB_PASSWORD,REDIS_PASSWORD")]
    [InlineData("list.yaml", "servers:\n  - name: a\n    token: db-pass-1\n  - name: b\n    token: 'redis-pass-2'\n", "servers[0].token,servers[1].token")]
    [InlineData("anchor.yml", "base: &dbpw db-pass-1\nservice:\n  password: *dbpw\n  other: *dbpw\ncache:\n  - --auth-token\n  - redis-pass-2\n", "base,service.password,cache[1]")]
    [InlineData("pod.json", "{\"args\": [\"--verbose\", \"--db-password\", \"db-pass-1\", \"--port\", \"80\"], \"command\": [\"--api-token\", {\"x\": 1}, \"after-an-object\", \"--api-token\", \"redis-pass-2\"]}", "args[2],command[4]")]
    public void Documents_are_masked_by_key_path_and_refilled_path_by_path(string name, string text, string paths)
    {
        var found = DocumentSecrets.Find(text, DocumentSecrets.Detect(name, text));
        var redacted = DocumentSecrets.Redact(text, name);
        var (refilled, unrestorable) = DocumentSecrets.Refill(redacted, text, name);

        Assert.Equal(paths.Split(','), found!.Select(v => v.Path));
        Assert.DoesNotContain("db-pass-1", redacted);
        Assert.DoesNotContain("redis-pass-2", redacted);
        Assert.Equal(text, refilled);
        Assert.Empty(unrestorable);
    }

    [Fact]
    public void An_anchor_a_secret_key_refers_to_keeps_its_name_so_the_aliases_still_resolve()
    {
        var redacted = DocumentSecrets.Redact("base: &dbpw anchored-secret\nservice:\n  password: *dbpw\n", "app.yml");

        Assert.Equal("base: &dbpw \"" + SecretRedactor.Mask + "\"\nservice:\n  password: *dbpw\n", redacted);
    }

    [Fact]
    public void A_refill_never_takes_a_secret_from_another_path()
    {
        // The recorded copy had both passwords; the live file lost redis.password: nothing may fill it from database.password.
        var recorded = DocumentSecrets.Redact("database:\n  password: old-db\nredis:\n  password: old-redis\n", "app.yml");
        var live = "database:\n  password: live-db\n";

        var (_, unrestorable) = DocumentSecrets.Refill(recorded, live, "app.yml");

        Assert.Equal(new[] { "redis.password" }, unrestorable);
    }

    [Fact]
    public void A_yaml_block_scalar_with_a_pem_body_is_masked_and_refilled_byte_for_byte()
    {
        var text = "name: web\ntls_private_key: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MIIEpAIBAAKCAQEA\n  -----END RSA PRIVATE KEY-----\nport: 8443 # secure\n";

        var redacted = DocumentSecrets.Redact(text, "tls.yml");
        var (refilled, unrestorable) = DocumentSecrets.Refill(redacted, text, "tls.yml");

        Assert.DoesNotContain("MIIEpAIBAAKCAQEA", redacted);
        Assert.Contains("port: 8443 # secure", redacted);
        Assert.Equal(text, refilled);
        Assert.Empty(unrestorable);
    }

    [Fact]
    public void A_commented_out_secret_is_masked_and_reported_as_not_restorable()
    {
        var text = "timeout: 3\n# password: old-commented-pass\n";

        var redacted = DocumentSecrets.Redact(text, "app.yml");
        var (_, unrestorable) = DocumentSecrets.Refill(redacted, text, "app.yml");

        Assert.DoesNotContain("old-commented-pass", redacted);
        Assert.NotEmpty(unrestorable);
    }
}

public class SecretRedactorTests
{
    [Theory]
    [InlineData("API_KEY=abc123def", "abc123def")]
    [InlineData("password: hunter2", "hunter2")]
    [InlineData("{\"client_secret\": \"s3cr3t-value\"}", "s3cr3t-value")]
    [InlineData("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload", "eyJhbGciOiJIUzI1NiJ9")]
    [InlineData("https://deploy:tok3n@git.example.com/app.git", "tok3n")]
    public void Removes_secrets_from_text(string text, string secret)
    {
        var redacted = SecretRedactor.Redact(text);

        Assert.DoesNotContain(secret, redacted);
        Assert.Contains(SecretRedactor.Mask, redacted);
    }

    [Fact]
    public void Leaves_ordinary_text_alone() =>
        Assert.Equal("Missing environment variable: API_KEY", SecretRedactor.Redact("Missing environment variable: API_KEY"));
}
