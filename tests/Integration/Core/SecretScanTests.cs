using System.Text;
using System.Text.Json;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

/// <summary>
/// Plants every form a secret was found to leak in, through a real rollback (config file, restart and smoke scripts that
/// echo secrets, health-check URLs with credentials), then reads every byte the module wrote and every object it returned.
/// </summary>
public class SecretScanTests
{
    private static readonly string[] ConfigSecrets =
    {
        "s-pass-0001", "s-dbpass-0002", "s-signing-0003", "s-single quoted-0004", "s-semi;colon@at-0005",
        "MIIEpemBodyLine-0006", "s-folded-line-0007", "s-api-key-0008", "s-dotted-pass-0009",
    };

    private static readonly string[] ScriptSecrets = { "s-restart-echo-0010", "s-authz-token-0011", "s-sas-sig-0012", "s-url-user-token-0013", "s-smoke-pass-0014" };

    private static readonly string[] UrlSecrets = { "s-health-user-0015", "s-health-pass-0016", "s-health-query-0017" };

    private static string Config(string timeout, string v) =>
        $"""
        timeout: {timeout}
        pass: s-pass-0001{v}
        db_pass: s-dbpass-0002{v}
        jwt_signing_key: s-signing-0003{v}
        smtp_password: 's-single quoted-0004{v}'
        broker_password: s-semi;colon@at-0005{v}
        tls_private_key: |
          -----BEGIN RSA PRIVATE KEY-----
          MIIEpemBodyLine-0006{v}
          -----END RSA PRIVATE KEY-----
        session_secret: >
          s-folded-line-0007{v}
          and more
        upstream:
          api_key: s-api-key-0008{v}
        database.password: s-dotted-pass-0009{v}

        """;

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task No_planted_secret_reaches_the_state_folder_a_result_or_a_message()
    {
        using var git = new GitFixture();
        string? authorization = null;
        using var server = new LocalHttpServer((request, _) =>
        {
            authorization = request.Headers["Authorization"];
            return (200, "ok");
        });
        var config = git.Temp.Combine("app.yml");
        File.WriteAllText(config, Config("1", "a"));
        File.WriteAllText(git.Temp.Combine("app.previous.yml"), Config("30", "b"));
        var restart = Script(git, "restart.sh",
            "echo 'password=s-restart-echo-0010'",
            "echo 'Authorization: token s-authz-token-0011'",
            "echo 'https://acct.blob.core.windows.net/c?sv=1&sig=s-sas-sig-0012'",
            "echo 'git push https://s-url-user-token-0013@example.com/repo.git'");
        var smoke = Script(git, "smoke.sh", "echo 'db_pass: s-smoke-pass-0014'", "exit 0");
        var health = new UriBuilder(server.Url()) { UserName = "s-health-user-0015", Password = "s-health-pass-0016", Query = "token=s-health-query-0017" }.Uri;
        var observer = new RecordingObserver();
        var rollback = new RollbackRequest
        {
            Deployment = new ConfigTarget { Path = config, PreviousPath = "app.previous.yml" },
            RestartScript = restart,
            Verification = new VerificationOptions { SmokeTests = new[] { smoke }, HealthChecks = new[] { new HealthCheckOptions { Uri = health } } },
        };

        var assessment = await RollbackEngine.AssessAsync(rollback with { }, git.Context(observer));
        var result = await RollbackEngine.InvokeAsync(rollback, git.Context(observer));
        var report = await RollbackEngine.TestHealthAsync(rollback, result!.AttemptId, recordVerified: true, signalOnFailure: true, git.Context(observer));
        var incident = IncidentReportWriter.Write(git.State(), IncidentReportWriter.FindAttempt(git.State(), result.AttemptId, null), git.Temp.Combine("incident.md"));

        Assert.Equal(RollbackOutcome.Succeeded, result.Outcome);
        Assert.True(report.Healthy);
        Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("s-health-user-0015:s-health-pass-0016")), authorization);
        Assert.Contains("s-pass-0001b", File.ReadAllText(config));
        var planted = ConfigSecrets.SelectMany(s => new[] { s + "a", s + "b" }).Concat(ScriptSecrets).Concat(UrlSecrets).ToArray();
        var places = new Dictionary<string, string>
        {
            ["the assessment"] = JsonSerializer.Serialize(assessment),
            ["the result"] = JsonSerializer.Serialize(result),
            ["the health report"] = JsonSerializer.Serialize(report),
            ["the messages"] = string.Join('\n', observer.Messages.Concat(observer.Asked)),
            ["the incident report"] = JsonSerializer.Serialize(incident) + File.ReadAllText(git.Temp.Combine("incident.md")),
        };
        foreach (var file in Directory.EnumerateFiles(git.StatePath, "*", SearchOption.AllDirectories))
        {
            // Every file, the SQLite journal included (read as bytes: its text is UTF-8 inside pages).
            places[file] = Encoding.UTF8.GetString(File.ReadAllBytes(file));
        }

        var leaks = from place in places from secret in planted where place.Value.Contains(secret, StringComparison.Ordinal) select $"{secret} in {place.Key}";
        Assert.Empty(leaks);
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static ScriptAction Script(GitFixture git, string name, params string[] lines)
    {
        var path = git.Temp.Combine(name);
        File.WriteAllText(path, "#!/bin/sh\n" + string.Join('\n', lines) + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return ScriptAction.FromFile(path);
    }
}
