using DeploymentRollback.Engine;
using DeploymentRollback.Tests.Integration.Kubernetes;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

/// <summary>Reruns, cancelled steps and escalation, against real git repositories, journals and HTTP endpoints.</summary>
public class RerunTests
{
    private static RollbackRequest Request(GitFixture git, LocalHttpServer? server = null, ScriptAction? restart = null) => new()
    {
        Deployment = new GitTarget { Path = git.RepoPath },
        Target = "v2.3.0",
        RestartScript = restart,
        Verification = new VerificationOptions { HealthChecks = server is null ? Array.Empty<HealthCheckOptions>() : new[] { new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 0 } } },
    };

    [Fact]
    public async Task Nothing_to_change_still_restarts_and_verifies_and_an_unhealthy_target_is_Failed()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (503, "Unhealthy"));
        await RollbackEngine.InvokeAsync(Request(git), git.Context());
        var restarts = 0;
        var restart = new ScriptAction("restart", _ => Task.FromResult(new ScriptOutcome(true, $"restart {Interlocked.Increment(ref restarts)}", 0)));

        var rerun = await RollbackEngine.InvokeAsync(Request(git, server, restart), git.Context());

        Assert.Equal(1, restarts);
        Assert.Equal(RollbackOutcome.Failed, rerun!.Outcome);
        Assert.Equal(VerificationOutcome.Failed, rerun.Verification);
        Assert.Contains("unhealthy", rerun.Message);
        Assert.Contains(SignalNames.RollbackFailed, rerun.Signals);
        Assert.Equal(RollbackOutcome.Failed, git.State().Journal.GetAttempts(attemptId: rerun.AttemptId).Single().Outcome);
    }

    [Fact]
    public async Task Nothing_to_change_and_verified_healthy_is_Skipped()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (200, "ok"));
        await RollbackEngine.InvokeAsync(Request(git), git.Context());

        var rerun = await RollbackEngine.InvokeAsync(Request(git, server), git.Context());

        Assert.Equal(RollbackOutcome.Skipped, rerun!.Outcome);
        Assert.Equal(VerificationOutcome.Passed, rerun.Verification);
        Assert.Empty(rerun.Signals);
    }

    [Fact]
    public async Task Unhealthy_reruns_escalate_and_a_Skipped_attempt_does_not_reset_the_count()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (503, "Unhealthy"));

        var first = await RollbackEngine.InvokeAsync(Request(git, server), git.Context());
        var unchecked_ = await RollbackEngine.InvokeAsync(Request(git), git.Context());
        var second = await RollbackEngine.InvokeAsync(Request(git, server), git.Context());
        var third = await RollbackEngine.InvokeAsync(Request(git, server), git.Context());

        Assert.Equal(RollbackOutcome.Failed, first!.Outcome);
        Assert.Equal(RollbackOutcome.Skipped, unchecked_!.Outcome);
        Assert.Equal(RollbackOutcome.Failed, second!.Outcome);
        Assert.Equal(RollbackOutcome.Escalated, third!.Outcome);
        Assert.Contains(SignalNames.ManualInterventionRequired, third.Signals);
    }

    [Fact]
    public async Task A_step_cancelled_by_the_user_is_recorded_Cancelled()
    {
        using var git = new GitFixture().WithReleases();
        using var cancel = new CancellationTokenSource();
        var restart = Fixtures.RestartThatCancels(cancel);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RollbackEngine.InvokeAsync(Request(git, restart: restart), git.Context(cancellation: cancel.Token)));

        var attempt = Assert.Single(git.State().Journal.GetAttempts());
        var step = Assert.Single(attempt.Steps, s => s.Name == "Restart slow restart");
        Assert.Equal("Cancelled", step.Status.ToString());
        Assert.Equal(StepStatus.Succeeded, attempt.Steps.Single(s => s.Name.StartsWith("Checkout", StringComparison.Ordinal)).Status);
    }

    [Fact]
    public async Task A_timeout_inside_a_step_is_a_failed_step_not_a_cancelled_or_succeeded_one()
    {
        using var git = new GitFixture().WithReleases();
        var restart = new ScriptAction("restart that times out", _ => throw new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 5 seconds elapsing."));

        var result = await RollbackEngine.InvokeAsync(Request(git, restart: restart), git.Context());

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        var step = Assert.Single(result.Steps, s => s.Name == "Restart restart that times out");
        Assert.Equal(StepStatus.Failed, step.Status);
        Assert.Contains("Timeout", result.Message);
    }

    [Fact]
    public async Task An_escalation_that_lapses_says_so_in_a_warning_and_a_journal_event()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (503, "Unhealthy"));
        for (var i = 0; i < 3; i++)
        {
            await RollbackEngine.InvokeAsync(Request(git, server), git.Context());
        }

        await Task.Delay(50);
        var observer = new RecordingObserver();
        var after = await RollbackEngine.InvokeAsync(Request(git, server) with { Escalation = new EscalationOptions { Window = TimeSpan.FromMilliseconds(20) } }, git.Context(observer));
        var later = new RecordingObserver();
        await RollbackEngine.InvokeAsync(Request(git, server) with { Escalation = new EscalationOptions { Window = TimeSpan.FromMilliseconds(20) } }, git.Context(later));

        Assert.Equal(RollbackOutcome.Escalated, git.State().Journal.GetAttempts().Skip(2).First().Outcome);
        Assert.NotNull(after);
        Assert.Contains(observer.Messages, m => m.StartsWith("WARNING:", StringComparison.Ordinal) && m.Contains("has lapsed"));
        Assert.Single(git.State().Journal.GetEvents("git:" + git.RepoPath), e => e.Kind == "EscalationLapsed");
        Assert.DoesNotContain(later.Messages, m => m.Contains("has lapsed"));
    }

    [Fact]
    public async Task Revert_with_push_refuses_before_any_commit_when_someone_pushed_first()
    {
        using var git = new GitFixture().WithReleases();
        var remotePath = WithRemote(git);
        var other = git.Temp.Combine("other");
        LibGit2Sharp.Repository.Clone(remotePath, other);
        using (var repo = new LibGit2Sharp.Repository(other))
        {
            File.WriteAllText(Path.Combine(other, "hotfix.txt"), "hotfix\n");
            LibGit2Sharp.Commands.Stage(repo, "hotfix.txt");
            var signature = new LibGit2Sharp.Signature("Someone Else", "else@example.invalid", DateTimeOffset.Now);
            repo.Commit("Hotfix pushed first", signature, signature, new LibGit2Sharp.CommitOptions());
            repo.Network.Push(repo.Network.Remotes["origin"], "refs/heads/master:refs/heads/master");
        }

        var head = git.HeadSha;
        var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(git).WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert, Push = true }), git.Context()));

        Assert.Equal("GitBranchBehind", error.ErrorId);
        Assert.Contains("git pull", error.Message);
        Assert.Equal(head, git.HeadSha);
        Assert.Empty(git.State().Journal.GetAttempts());
    }

    [Fact]
    public async Task A_rerun_with_push_pushes_the_revert_commits_still_unpushed()
    {
        using var git = new GitFixture().WithReleases();
        var remotePath = WithRemote(git);
        await RollbackEngine.InvokeAsync(Request(git).WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert }), git.Context());

        var rerun = await RollbackEngine.InvokeAsync(Request(git).WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert, Push = true }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, rerun!.Outcome);
        Assert.Contains(rerun.Steps, s => s.Name.StartsWith("Push", StringComparison.Ordinal) && s.Status == StepStatus.Succeeded);
        using var remote = new LibGit2Sharp.Repository(remotePath);
        Assert.Equal(git.HeadSha, remote.Branches["master"].Tip.Sha);
        Assert.Equal("good\n", git.ReadFile());
    }

    /// <summary>A bare repository as origin, with master pushed and tracked.</summary>
    private static string WithRemote(GitFixture git)
    {
        var remotePath = git.Temp.Combine("remote.git");
        LibGit2Sharp.Repository.Init(remotePath, isBare: true);
        using var repo = git.Open();
        repo.Network.Remotes.Add("origin", remotePath);
        repo.Network.Push(repo.Network.Remotes["origin"], "refs/heads/master:refs/heads/master");
        repo.Branches.Update(repo.Head, b => b.Remote = "origin", b => b.UpstreamBranch = "refs/heads/master");
        return remotePath;
    }
}

/// <summary>The progress a rollback reports while it waits for a Kubernetes rollout.</summary>
public class KubernetesWaitProgressTests
{
    [Fact]
    public async Task The_rollout_wait_reports_its_phase_at_least_once_a_second_between_watch_events()
    {
        // Revision 1's pods are gone, so the rollback starts new ones, which take a few seconds to become ready.
        await using var kube = await KubeFixture.StartAsync(options => options.ReadyDelay = TimeSpan.FromSeconds(3));
        await kube.DeployAsync("web", "registry/app:1.0", progressDeadlineSeconds: 60);
        await kube.SetImageAsync("web", "registry/app:2.0");
        var observer = new TimedObserver();

        var result = await RollbackEngine.InvokeAsync(kube.Request("web", "1"), kube.Context(observer));

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message);
        var waiting = observer.Updates.Where(u => u.Update.Status.StartsWith("Waiting for the rollout", StringComparison.Ordinal)).Select(u => u.At).ToList();
        Assert.True(waiting.Count >= 3, $"{waiting.Count} updates while waiting");
        var longestGap = waiting.Zip(waiting.Skip(1), (a, b) => b - a).Max();
        // The ticker runs every second; a loaded 2-processor machine delays a tick by up to about a second. Without the
        // ticker, progress would come only with watch events, 3 s apart here.
        Assert.True(longestGap <= TimeSpan.FromSeconds(2.5), $"no progress for {longestGap.TotalSeconds:0.0} s during the rollout wait");
    }

    private sealed class TimedObserver : IRollbackObserver
    {
        public List<(DateTimeOffset At, ProgressUpdate Update)> Updates { get; } = new();

        public void Progress(ProgressUpdate update)
        {
            lock (Updates)
            {
                Updates.Add((DateTimeOffset.UtcNow, update));
            }
        }

        public void Verbose(string message) { }
        public void Warning(string message) { }
        public Task<bool> ShouldProcessAsync(string target, string action) => Task.FromResult(true);
    }
}

/// <summary>Reruns of a Kubernetes rollback against the fake API server.</summary>
public class KubernetesRerunTests
{
    [Fact]
    public async Task An_unhealthy_rerun_keeps_the_target_instead_of_flipping_back_to_the_failed_revision()
    {
        await using var kube = await KubeFixture.StartAsync();
        await kube.DeployAsync("web", "registry/app:1.0");
        await kube.SetImageAsync("web", "registry/app:2.0");
        await kube.SetImageAsync("web", "registry/app:3.0-crash");
        using var server = new LocalHttpServer((_, _) => (503, "Unhealthy"));
        var checks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 0 } };

        var first = await RollbackEngine.InvokeAsync(kube.Request("web"), kube.Context());
        var second = await RollbackEngine.InvokeAsync(kube.Request("web") with { Verification = new VerificationOptions { HealthChecks = checks } }, kube.Context());
        var third = await RollbackEngine.InvokeAsync(kube.Request("web") with { Verification = new VerificationOptions { HealthChecks = checks } }, kube.Context());

        Assert.Equal(RollbackOutcome.Succeeded, first!.Outcome);
        Assert.Equal(RollbackOutcome.Failed, second!.Outcome);
        Assert.Equal(first.ToVersion, second.ToVersion);
        Assert.Equal(first.ToVersion, third!.ToVersion);
        Assert.Equal("registry/app:2.0", await kube.ImageAsync("web"));
    }
}

/// <summary>Quick retries stopped by the user.</summary>
public class RetryCancellationTests
{
    [Fact]
    public async Task A_retry_cancelled_during_its_verification_is_recorded_Failed_not_left_Running()
    {
        using var git = new GitFixture();
        using var cancel = new CancellationTokenSource();
        using var slow = new LocalHttpServer((_, _) =>
        {
            Thread.Sleep(3000);
            return (200, "ok");
        });
        var request = new Engine.Retry.RetryRequest
        {
            TargetKey = "retry:shop",
            Delay = TimeSpan.Zero,
            MaxAttempts = 1,
            Deploy = new ScriptAction("deploy", _ =>
            {
                cancel.CancelAfter(TimeSpan.FromMilliseconds(300));
                return Task.FromResult(new ScriptOutcome(true, "deployed", 0));
            }),
            HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(slow.Url()), Retries = 0, Timeout = TimeSpan.FromSeconds(10) } },
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Engine.Retry.QuickRetry.RunAsync(request, git.Context(cancellation: cancel.Token)));

        var journal = git.State().Journal;
        Assert.Empty(journal.GetRunningAttempts("retry:shop"));
        Assert.Equal(RollbackOutcome.Failed, Assert.Single(journal.GetAttempts("retry:shop")).Outcome);
    }

    [Fact]
    public async Task A_deployment_stopped_by_the_user_is_Cancelled()
    {
        using var git = new GitFixture();
        using var cancel = new CancellationTokenSource();
        var request = new Engine.Retry.RetryRequest
        {
            TargetKey = "retry:shop",
            Delay = TimeSpan.Zero,
            MaxAttempts = 1,
            // A stopped script reports a failure rather than throwing OperationCanceledException.
            Deploy = new ScriptAction("deploy", _ =>
            {
                cancel.Cancel();
                return Task.FromResult(new ScriptOutcome(false, "The pipeline has been stopped.", null));
            }),
        };

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Engine.Retry.QuickRetry.RunAsync(request, git.Context(cancellation: cancel.Token)));

        var attempt = Assert.Single(git.State().Journal.GetAttempts("retry:shop"));
        Assert.Equal(StepStatus.Cancelled, Assert.Single(attempt.Steps).Status);
    }
}

/// <summary>Attempts left 'Running' by a process that died, as the journal holds them.</summary>
public class InterruptedAttemptTests
{
    private static RollbackResult Running(GitFixture git) => new()
    {
        AttemptId = "0123456789ab", Strategy = "Git", TargetKey = "git:" + git.RepoPath, Path = git.RepoPath,
        FromVersion = "v2.3.1", ToVersion = "v2.3.0", AttemptNumber = 1, StartedAt = DateTimeOffset.UtcNow.AddMinutes(-5),
    };

    [Fact]
    public async Task WhatIf_only_says_an_attempt_was_interrupted_and_records_nothing()
    {
        using var git = new GitFixture().WithReleases();
        // A journal written before attempts recorded their process: the lock is free, so the attempt is not running.
        git.State().Journal.StartAttempt(Running(git));
        var observer = new RecordingObserver(consent: false);

        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath } }, git.Context(observer));

        Assert.Null(result);
        Assert.Contains(observer.Messages, m => m.Contains("was interrupted before its first step"));
        Assert.Contains(observer.Asked, a => a.StartsWith("Record the attempt", StringComparison.Ordinal));
        Assert.Single(git.State().Journal.GetRunningAttempts("git:" + git.RepoPath));
        Assert.Empty(new SignalStore(git.State()).Read());
    }

    [Fact]
    public async Task An_attempt_whose_process_still_runs_is_left_alone()
    {
        using var git = new GitFixture().WithReleases();
        var journal = git.State().Journal;
        var alive = Running(git);
        journal.StartAttempt(alive);
        using var other = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("sleep", "30"))!;
        try
        {
            journal.SetAttemptOwner(alive.AttemptId, InterruptedAttempts.OwnerOf(other));

            var recovered = await InterruptedAttempts.RecoverAsync("git:" + git.RepoPath, null, git.Context());

            Assert.Empty(recovered);
            Assert.Single(journal.GetRunningAttempts("git:" + git.RepoPath));
        }
        finally
        {
            other.Kill();
        }
    }
}
