using System.Text.Json;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

public class HealthVerifierTests
{
    [Fact]
    public async Task Passes_on_expected_status_and_body()
    {
        using var server = new LocalHttpServer((_, _) => (200, "{\"status\":\"ok\"}"));

        var result = await HealthVerifier.CheckAsync(new HealthCheckOptions { Uri = new Uri(server.Url()), BodyPattern = "\"ok\"" }, new RecordingObserver(), default);

        Assert.True(result.Passed);
        Assert.Equal(200, result.StatusCode);
        Assert.Equal(1, result.Attempts);
    }

    [Fact]
    public async Task Retries_until_healthy()
    {
        var calls = 0;
        using var server = new LocalHttpServer((_, _) => Interlocked.Increment(ref calls) < 3 ? (503, "starting") : (200, "ok"));

        var result = await HealthVerifier.CheckAsync(new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 5, Interval = TimeSpan.FromMilliseconds(20) }, new RecordingObserver(), default);

        Assert.True(result.Passed);
        Assert.Equal(3, result.Attempts);
    }

    [Fact]
    public async Task Fails_on_wrong_status_wrong_body_and_refused_connection()
    {
        using var server = new LocalHttpServer((_, _) => (200, "{\"status\":\"degraded\"}"));
        var observer = new RecordingObserver();

        var wrongStatus = await HealthVerifier.CheckAsync(new HealthCheckOptions { Uri = new Uri(server.Url()), ExpectedStatus = new[] { 204 }, Retries = 0 }, observer, default);
        var wrongBody = await HealthVerifier.CheckAsync(new HealthCheckOptions { Uri = new Uri(server.Url()), BodyPattern = "\"ok\"", Retries = 1, Interval = TimeSpan.Zero }, observer, default);
        var refused = await HealthVerifier.CheckAsync(new HealthCheckOptions { Uri = new Uri($"http://127.0.0.1:{LocalHttpServer.FreePort()}/health"), Retries = 0 }, observer, default);

        Assert.False(wrongStatus.Passed);
        Assert.Contains("expected 204", wrongStatus.Message);
        Assert.False(wrongBody.Passed);
        Assert.Equal(2, wrongBody.Attempts);
        Assert.Contains("does not match", wrongBody.Message);
        Assert.False(refused.Passed);
        Assert.Null(refused.StatusCode);
    }

    [Fact]
    public async Task A_slow_endpoint_times_out()
    {
        using var server = new LocalHttpServer((_, _) => { Thread.Sleep(1500); return (200, "late"); });

        var result = await HealthVerifier.CheckAsync(new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 0, Timeout = TimeSpan.FromMilliseconds(300) }, new RecordingObserver(), default);

        Assert.False(result.Passed);
        Assert.Contains("no answer within", result.Message);
    }

    [Fact]
    public void Rejects_addresses_that_are_not_http() =>
        Assert.Equal(ErrorIds.HealthCheckUriInvalid, Assert.Throws<RollbackException>(() => HealthCheckOptions.ParseUri("ftp://example/health")).ErrorId);

    [Fact]
    public async Task Smoke_test_executable_passes_on_exit_code_zero_and_keeps_output()
    {
        var pass = await HealthVerifier.RunSmokeTestAsync(ScriptAction.FromFile("/bin/sh", new[] { "-c", "echo smoke-ok" }), new RecordingObserver(), default);
        var fail = await HealthVerifier.RunSmokeTestAsync(ScriptAction.FromFile("/bin/sh", new[] { "-c", "echo broken >&2; exit 3" }), new RecordingObserver(), default);

        Assert.True(pass.Passed);
        Assert.Contains("smoke-ok", pass.Output);
        Assert.False(fail.Passed);
        Assert.Equal(3, fail.ExitCode);
        Assert.Contains("broken", fail.Output);
    }
}

public class ProcessRunnerTests
{
    [Fact]
    public async Task Arguments_are_passed_literally_never_through_a_shell()
    {
        var result = await ProcessRunner.RunAsync(new ProcessRequest("/bin/echo", new[] { "0002; rm -rf /", "$(whoami)" }), default);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("0002; rm -rf / $(whoami)\n", result.StandardOutput);
    }

    [Fact]
    public async Task A_process_past_its_timeout_is_killed()
    {
        var result = await ProcessRunner.RunAsync(new ProcessRequest("/bin/sleep", new[] { "30" }) { Timeout = TimeSpan.FromMilliseconds(300) }, default);

        Assert.True(result.TimedOut);
        Assert.True(result.Duration < TimeSpan.FromSeconds(10));
    }
}

public class SignalStoreTests
{
    [Fact]
    public async Task Signals_are_CloudEvents_files_with_the_name_in_the_type_and_the_payload_in_data()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Path);
        var store = new SignalStore(state);

        var signal = await store.EmitAsync("ROLLBACK_COMPLETE", new Dictionary<string, object?> { ["reason"] = "health check failed", ["rolled_back_to"] = "v2.3.0", ["api_token"] = "t0ps3cret" }, "git:/srv/app", null, new RecordingObserver(), default);

        using var document = JsonDocument.Parse(File.ReadAllText(signal.FilePath));
        var root = document.RootElement;
        Assert.Equal("1.0", root.GetProperty("specversion").GetString());
        Assert.EndsWith("ROLLBACK_COMPLETE", root.GetProperty("type").GetString());
        Assert.Equal("git:/srv/app", root.GetProperty("subject").GetString());
        Assert.Equal("v2.3.0", root.GetProperty("data").GetProperty("rolled_back_to").GetString());
        Assert.Equal("health check failed", root.GetProperty("data").GetProperty("reason").GetString());
        Assert.DoesNotContain("t0ps3cret", File.ReadAllText(signal.FilePath));

        var read = Assert.Single(store.Read(new[] { "ROLLBACK_COMPLETE" }));
        Assert.Equal(signal.Id, read.Id);
        Assert.Equal("v2.3.0", read.Data["rolled_back_to"]);
        Assert.Empty(store.Read(new[] { "ROLLBACK_FAILED" }));
    }

    [Fact]
    public async Task A_webhook_receives_the_structured_CloudEvent()
    {
        using var temp = new TempDirectory();
        using var server = new LocalHttpServer((_, _) => (202, ""));
        var store = new SignalStore(StateRoot.Open(temp.Path));

        var signal = await store.EmitAsync("DEPLOYMENT_FAILED", new Dictionary<string, object?> { ["reason"] = "boom" }, null, new Uri(server.Url("/hook")), new RecordingObserver(), default, webhookFailureIsError: true);

        Assert.Equal(202, signal.WebhookStatusCode);
        var request = Assert.Single(server.Requests);
        Assert.Equal("POST", request.Method);
        Assert.StartsWith("application/cloudevents+json", request.ContentType);
        Assert.Contains("DEPLOYMENT_FAILED", request.Body);
    }

    [Fact]
    public async Task A_failing_webhook_is_an_error_only_when_asked_and_the_file_is_written_anyway()
    {
        using var temp = new TempDirectory();
        using var server = new LocalHttpServer((_, _) => (500, "down"));
        var store = new SignalStore(StateRoot.Open(temp.Path));
        var observer = new RecordingObserver();

        // A Slack-style hook: the secret is a path segment, which no name announces.
        var hook = new Uri(new Uri(server.Url()), "services/T000/B000/path-secret-603?token=query-secret");
        var error = await Assert.ThrowsAsync<RollbackException>(() => store.EmitAsync("ROLLBACK_FAILED", new Dictionary<string, object?>(), null, hook, observer, default, webhookFailureIsError: true));
        await store.EmitAsync("ROLLBACK_FAILED", new Dictionary<string, object?>(), null, hook, observer, default);

        Assert.Equal(ErrorIds.SignalWebhookFailed, error.ErrorId);
        Assert.Contains($"{hook.Scheme}://{hook.Authority}/...", error.Message);
        Assert.DoesNotContain(observer.Messages.Append(error.Message), m => m.Contains("path-secret-603") || m.Contains("query-secret"));
        Assert.Equal(2, store.Read().Count);
        Assert.Contains(observer.Messages, m => m.StartsWith("WARNING:") && m.Contains("500"));
    }

    [Theory]
    [InlineData("rollback complete")]
    [InlineData("lower_case")]
    [InlineData("../../etc")]
    public void Invalid_names_are_refused(string name) =>
        Assert.Equal(ErrorIds.SignalNameInvalid, Assert.Throws<RollbackException>(() => SignalStore.ValidateName(name)).ErrorId);
}

public class VerificationEscalationAndLockingTests
{
    [Fact]
    public async Task A_failed_verification_makes_the_rollback_Failed_and_signals_ROLLBACK_FAILED()
    {
        using var git = new GitFixture().WithReleases();
        var request = new RollbackRequest
        {
            Deployment = new GitTarget { Path = git.RepoPath },
            Target = "v2.3.0",
            Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri($"http://127.0.0.1:{LocalHttpServer.FreePort()}/health"), Retries = 0 } } },
        };

        var result = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        Assert.Equal(VerificationOutcome.Failed, result.Verification);
        Assert.Null(result.TimeToRecovery);
        Assert.Equal(new[] { SignalNames.RollbackStarted, SignalNames.RollbackFailed }, result.Signals);
        Assert.Empty(git.State().Journal.GetVerified());
    }

    [Fact]
    public async Task A_verified_rollback_records_the_target_verified_good()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        var request = new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Target = "v2.3.0", Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } } } };

        var result = await RollbackEngine.InvokeAsync(request, git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(VerificationOutcome.Passed, result.Verification);
        var verified = Assert.Single(git.State().Journal.GetVerified());
        Assert.Equal("v2.3.0", verified.Version);
        Assert.Equal(git.TagSha("v2.3.0"), verified.Commit);
    }

    [Fact]
    public async Task The_third_failure_escalates_and_later_attempts_refuse_unless_forced()
    {
        using var git = new GitFixture().WithReleases();
        var deadPort = LocalHttpServer.FreePort();
        RollbackRequest Failing() => new() { Deployment = new GitTarget { Path = git.RepoPath }, Target = "v2.3.0", Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri($"http://127.0.0.1:{deadPort}/health"), Retries = 0 } } } };
        void Redeploy()
        {
            using var repo = git.Open();
            LibGit2Sharp.Commands.Checkout(repo, repo.Tags["v2.3.1"].PeeledTarget.Sha);
        }

        var outcomes = new List<RollbackOutcome>();
        for (var i = 0; i < 3; i++)
        {
            Redeploy();
            outcomes.Add((await RollbackEngine.InvokeAsync(Failing(), git.Context()))!.Outcome);
        }

        Assert.Equal(new[] { RollbackOutcome.Failed, RollbackOutcome.Failed, RollbackOutcome.Escalated }, outcomes);
        Assert.Single(new SignalStore(git.State()).Read(new[] { SignalNames.ManualInterventionRequired }));

        Redeploy();
        var refused = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Failing(), git.Context()));
        Assert.Equal(ErrorIds.RollbackEscalated, refused.ErrorId);

        var forced = await RollbackEngine.InvokeAsync(Failing() with { Force = true, Verification = new VerificationOptions { HealthChecks = Array.Empty<HealthCheckOptions>() } }, git.Context());
        Assert.Equal(RollbackOutcome.Succeeded, forced!.Outcome);
        Assert.Equal(4, forced.AttemptNumber);
    }

    [Fact]
    public async Task A_second_rollback_of_the_same_target_waits_for_the_lock_then_fails_clearly()
    {
        using var git = new GitFixture().WithReleases();
        var state = git.State();
        using (await state.Store.AcquireLockAsync("git:" + git.RepoPath, TimeSpan.Zero, new RecordingObserver(), default))
        {
            var observer = new RecordingObserver();
            var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Target = "v2.3.0", LockTimeout = TimeSpan.FromMilliseconds(500) }, git.Context(observer)));

            Assert.Equal(ErrorIds.RollbackLockTimeout, error.ErrorId);
            Assert.Contains(observer.ProgressUpdates, p => p.Activity.StartsWith("Waiting for another rollback"));
            Assert.Equal(git.TagSha("v2.3.1"), git.HeadSha);
        }

        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Target = "v2.3.0" }, git.Context());
        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
    }

    [Fact]
    public async Task Cancelling_mid_rollback_records_the_attempt_as_failed()
    {
        using var git = new GitFixture().WithReleases();
        using var cancel = new CancellationTokenSource();
        var restart = Fixtures.RestartThatCancels(cancel);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Target = "v2.3.0", RestartScript = restart }, git.Context(cancellation: cancel.Token)));

        var attempt = Assert.Single(git.State().Journal.GetAttempts());
        Assert.Equal(RollbackOutcome.Failed, attempt.Outcome);
        Assert.Contains("Cancelled", attempt.Message);
    }
}

public class ReportingTests
{
    [Fact]
    public async Task Incident_report_and_checklist_come_from_the_journal()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        var state = git.State();
        await new SignalStore(state).EmitAsync(SignalNames.DeploymentFailed, new Dictionary<string, object?> { ["reason"] = "Missing environment variable: API_KEY", ["failure_type"] = "HealthCheckFailed" }, "git:" + git.RepoPath, null, new RecordingObserver(), default);
        var request = new RollbackRequest
        {
            Deployment = new GitTarget { Path = git.RepoPath },
            RestartScript = new ScriptAction("restart", _ => Task.FromResult(new ScriptOutcome(true, "restarted", 0))),
            Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()) } }, SmokeTests = new[] { new ScriptAction("version check", _ => Task.FromResult(new ScriptOutcome(true, "2.3.0", 0))) } },
        };

        var result = await RollbackEngine.InvokeAsync(request, git.Context());
        var report = IncidentReportWriter.Write(state, result!, git.Temp.Combine("incident.md"));
        var checklist = Checklist.Build(state, result!);

        Assert.Equal(FailureType.HealthCheckFailed, result!.FailureType);
        Assert.Equal("Missing environment variable: API_KEY", result.Reason);
        Assert.NotNull(result.TimeToRecovery);
        Assert.True(result.TimeToRecovery >= result.Duration);
        var markdown = File.ReadAllText(report.MarkdownPath);
        Assert.Contains("## What failed", markdown);
        Assert.Contains("Missing environment variable: API_KEY", markdown);
        Assert.Contains("v2.3.0", markdown);
        Assert.Contains("Time to recovery", markdown);
        Assert.Contains("Validate required environment variables", markdown);
        using var json = JsonDocument.Parse(File.ReadAllText(report.JsonPath));
        Assert.Equal("Succeeded", json.RootElement.GetProperty("report").GetProperty("Outcome").GetString());

        var ticked = checklist.Where(i => i.Done).Select(i => i.Item).ToList();
        Assert.Contains("Confirmed deployment failure", ticked);
        Assert.Contains("Created checkpoint of failed state", ticked);
        Assert.Contains("Confirmed services restarted", ticked);
        Assert.Contains("Health checks passing", ticked);
        Assert.Contains("Smoke tests passing", ticked);
        Assert.Contains("Incident documented", ticked);
        Assert.Contains("Rollback signal created", ticked);
        Assert.DoesNotContain("No error spikes in logs", ticked);
        Assert.DoesNotContain("Team notified of resolution", ticked);
    }

    [Fact]
    public void Asking_for_an_unknown_attempt_is_a_clear_error()
    {
        using var temp = new TempDirectory();

        var error = Assert.Throws<RollbackException>(() => IncidentReportWriter.FindAttempt(StateRoot.Open(temp.Path), "nope", null));

        Assert.Equal(ErrorIds.AttemptNotFound, error.ErrorId);
    }

    [Fact]
    public void An_unwritable_state_directory_is_a_clear_error()
    {
        using var temp = new TempDirectory();
        var file = temp.Combine("a-file");
        File.WriteAllText(file, "");

        Assert.Equal(ErrorIds.StateDirectoryUnusable, Assert.Throws<RollbackException>(() => StateRoot.Open(Path.Combine(file, "state"))).ErrorId);
    }
}
