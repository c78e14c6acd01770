using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Retry;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Config;

public class ConfigRollbackTests
{
    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Restores_the_previous_copy_atomically_keeping_permissions_and_the_failed_copy_in_the_checkpoint()
    {
        using var git = new GitFixture();
        var config = git.Temp.Combine("app.yml");
        File.WriteAllText(config, "timeout: 1\nretries: 0\napi_key: live-secret-value\n");
        File.SetUnixFileMode(config, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(git.Temp.Combine("app.previous.yml"), "timeout: 30\nretries: 3\napi_key: live-secret-value\n");
        var observer = new RecordingObserver();
        var request = new RollbackRequest { Deployment = new ConfigTarget { Path = config, PreviousPath = "app.previous.yml" } };

        var result = await RollbackEngine.InvokeAsync(request, git.Context(observer));
        var again = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal("timeout: 30\nretries: 3\napi_key: live-secret-value\n", File.ReadAllText(config));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(config));
        Assert.Contains(observer.Asked, a => a.Contains("- timeout: 1") && a.Contains("+ timeout: 30"));
        Assert.Contains("- timeout: 1", result.Changes);
        var checkpoint = Assert.Single(new CheckpointStore(git.State()).List());
        var kept = File.ReadAllText(Path.Combine(checkpoint.Folder, "app.yml"));
        Assert.Contains("timeout: 1", kept);
        Assert.DoesNotContain("live-secret-value", kept);
        Assert.Equal(RollbackOutcome.Skipped, again!.Outcome);
        Assert.Empty(Directory.EnumerateFiles(git.Temp.Path, "*.tmp"));
    }

    [Fact]
    public async Task Without_a_previous_copy_it_restores_the_verified_copy_with_secrets_taken_from_the_live_file()
    {
        using var git = new GitFixture();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        var config = git.Temp.Combine("app.yml");
        File.WriteAllText(config, "timeout: 30\npassword: s3cret-one\n");
        var request = new RollbackRequest { Deployment = new ConfigTarget { Path = config }, Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } };
        var recorded = await RollbackEngine.TestHealthAsync(request, null, recordVerified: true, signalOnFailure: false, git.Context());
        File.WriteAllText(config, "timeout: 1\npassword: s3cret-one\n");

        var result = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.NotNull(recorded.RecordedVerifiedVersion);
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal("timeout: 30\npassword: s3cret-one\n", File.ReadAllText(config));
        foreach (var file in Directory.EnumerateFiles(git.StatePath, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".db") && !f.Contains(".db-")))
        {
            Assert.DoesNotContain("s3cret-one", File.ReadAllText(file));
        }
    }

    [Fact]
    public async Task A_missing_previous_copy_or_file_is_a_clear_error()
    {
        using var git = new GitFixture();
        var config = git.Temp.Combine("app.yml");
        File.WriteAllText(config, "timeout: 1\n");

        var noPrevious = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ConfigTarget { Path = config } }, git.Context()));
        var missingCopy = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ConfigTarget { Path = config, PreviousPath = "nope.yml" } }, git.Context()));
        var noFile = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new ConfigTarget { Path = config + ".missing", PreviousPath = "x" } }, git.Context()));

        Assert.Equal(ErrorIds.ConfigPreviousMissing, noPrevious.ErrorId);
        Assert.Equal(ErrorIds.ConfigPreviousMissing, missingCopy.ErrorId);
        Assert.Equal(ErrorIds.ConfigFileNotFound, noFile.ErrorId);
        Assert.Equal("timeout: 1\n", File.ReadAllText(config));
    }
}
