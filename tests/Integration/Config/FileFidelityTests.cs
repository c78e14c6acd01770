using System.Text;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Config;

/// <summary>Files are written as they were: through links, byte for byte, and never over something that is not a file.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public class FileFidelityTests
{
    [Fact]
    public async Task A_config_path_that_is_a_link_stays_a_link_and_its_target_gets_the_content()
    {
        using var git = new GitFixture();
        var release = Directory.CreateDirectory(git.Temp.Combine("releases/2")).FullName;
        var real = Path.Combine(release, "app.yml");
        File.WriteAllText(real, "timeout: 1\n");
        Directory.CreateSymbolicLink(git.Temp.Combine("current"), release);
        var link = git.Temp.Combine("app.yml");
        File.CreateSymbolicLink(link, Path.Combine(git.Temp.Combine("current"), "app.yml"));
        File.WriteAllText(git.Temp.Combine("app.previous.yml"), "timeout: 30\n");

        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ConfigTarget { Path = link, PreviousPath = "app.previous.yml" } }, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal("timeout: 30\n", File.ReadAllText(real));
    }

    [Fact]
    public void A_device_a_pipe_or_a_folder_is_refused_and_left_as_it_is()
    {
        using var temp = new TempDirectory();
        var fifo = temp.Combine("pipe.yml");
        Fifo.Make(fifo);

        foreach (var path in new[] { "/dev/null", fifo, temp.Path })
        {
            var error = Assert.Throws<RollbackException>(() => AtomicFile.WriteAllText(path, "x"));
            Assert.Equal(ErrorIds.FileNotRegular, error.ErrorId);
        }

        // Still a device: what is written to it is gone.
        File.WriteAllText("/dev/null", "probe");
        Assert.Equal("", File.ReadAllText("/dev/null"));
        Assert.Equal(0, new FileInfo(fifo).Length);
    }

    [Fact]
    public async Task A_config_rollback_of_dev_null_is_refused_before_anything_changes()
    {
        using var git = new GitFixture();
        File.WriteAllText(git.Temp.Combine("app.previous.yml"), "timeout: 30\n");

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(
            new RollbackRequest { Deployment = new ConfigTarget { Path = "/dev/null", PreviousPath = git.Temp.Combine("app.previous.yml") } }, git.Context()));

        Assert.Equal(ErrorIds.FileNotRegular, error.ErrorId);
        Assert.Equal(0, new FileInfo("/dev/null").Length);
    }

    [Fact]
    public async Task An_incident_report_path_that_is_a_link_is_written_through_the_link()
    {
        using var git = new GitFixture();
        git.WithReleases();
        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Target = "v2.3.0" }, git.Context());
        var real = git.Temp.Combine("reports-share/incident.md");
        Directory.CreateDirectory(Path.GetDirectoryName(real)!);
        File.WriteAllText(real, "old");
        var link = git.Temp.Combine("incident.md");
        File.CreateSymbolicLink(link, real);

        IncidentReportWriter.Write(git.State(), result!, link);

        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Contains("v2.3.0", File.ReadAllText(real));
    }

    public static TheoryData<string, byte[]> Encodings() => new()
    {
        { "latin1", Encoding.Latin1.GetBytes("name: caf\u00e9\ntimeout: 1\n") },
        { "utf-8 with BOM", [.. new UTF8Encoding(true).GetPreamble(), .. Encoding.UTF8.GetBytes("name: caf\u00e9\ntimeout: 1\n")] },
        { "utf-16 with BOM", [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes("name: caf\u00e9\r\ntimeout: 1\r\n")] },
    };

    [Theory]
    [MemberData(nameof(Encodings))]
    public async Task A_previous_copy_comes_back_byte_for_byte(string encoding, byte[] previous)
    {
        using var git = new GitFixture();
        var config = git.Temp.Combine("app.yml");
        File.WriteAllText(config, "timeout: 1\n");
        File.WriteAllBytes(git.Temp.Combine("app.previous.yml"), previous);

        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ConfigTarget { Path = config, PreviousPath = "app.previous.yml" } }, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.True(previous.AsSpan().SequenceEqual(File.ReadAllBytes(config)), encoding);
    }

    [Theory]
    [MemberData(nameof(Encodings))]
    public async Task A_verified_copy_with_a_secret_comes_back_byte_for_byte(string encoding, byte[] verified)
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        var config = git.Temp.Combine("app.yml");
        var withSecret = Concat(verified, encoding, "password: live-pass\n");
        File.WriteAllBytes(config, withSecret);
        var request = new RollbackRequest { Deployment = new ConfigTarget { Path = config }, Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } };
        await RollbackEngine.TestHealthAsync(request, null, recordVerified: true, signalOnFailure: false, git.Context());
        File.WriteAllBytes(config, Concat(verified, encoding, "password: live-pass\nretries: 9\n"));

        var result = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.True(withSecret.AsSpan().SequenceEqual(File.ReadAllBytes(config)), encoding);
    }

    [Fact]
    public async Task Secrets_are_refilled_by_key_path_and_never_from_another_key_of_the_same_name()
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        var config = git.Temp.Combine("app.yml");
        const string verified = "timeout: 30\ndatabase:\n  password: db-pass\nredis:\n  password: redis-pass\n";
        File.WriteAllText(config, verified);
        var request = new RollbackRequest { Deployment = new ConfigTarget { Path = config }, Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } };
        await RollbackEngine.TestHealthAsync(request, null, recordVerified: true, signalOnFailure: false, git.Context());

        // The bad release reordered the sections: a bare key-name match gave Redis the database password.
        File.WriteAllText(config, "timeout: 1\nredis:\n  password: redis-pass\ndatabase:\n  password: db-pass\n");
        var result = await RollbackEngine.InvokeAsync(request, git.Context());
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(verified, File.ReadAllText(config));

        // Redis's password is gone from the live file: nothing can restore it exactly, so nothing changes.
        const string broken = "timeout: 1\ndatabase:\n  password: db-pass\n";
        File.WriteAllText(config, broken);
        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(request, git.Context()));
        Assert.Equal(ErrorIds.ConfigSecretUnavailable, error.ErrorId);
        Assert.Contains("redis.password", error.Message);
        Assert.Equal(broken, File.ReadAllText(config));
    }

    [Fact]
    public async Task A_change_of_only_a_secret_is_not_already_the_verified_content()
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        var config = git.Temp.Combine("app.yml");
        File.WriteAllText(config, "timeout: 30\npassword: old-pass\n");
        var request = new RollbackRequest { Deployment = new ConfigTarget { Path = config }, Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } };
        await RollbackEngine.TestHealthAsync(request, null, recordVerified: true, signalOnFailure: false, git.Context());
        File.WriteAllText(config, "timeout: 30\npassword: new-pass\n");

        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(request, git.Context()));

        Assert.Equal(ErrorIds.ConfigSecretUnavailable, error.ErrorId);
        Assert.Equal("timeout: 30\npassword: new-pass\n", File.ReadAllText(config));
    }

    private static byte[] Concat(byte[] document, string encoding, string more)
    {
        var text = encoding switch
        {
            "latin1" => Encoding.Latin1.GetBytes(more),
            "utf-16 with BOM" => Encoding.Unicode.GetBytes(more.Replace("\n", "\r\n")),
            _ => Encoding.UTF8.GetBytes(more),
        };
        return [.. document, .. text];
    }
}
