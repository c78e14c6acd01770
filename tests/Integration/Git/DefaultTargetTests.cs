using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Retry;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Git;

/// <summary>The default rollback target across reruns, and what the assessment recommends.</summary>
public class DefaultTargetTests
{
    private static RollbackRequest Request(GitFixture git, LocalHttpServer? server = null) => new()
    {
        Deployment = new GitTarget { Path = git.RepoPath },
        Verification = new VerificationOptions { HealthChecks = server is null ? Array.Empty<HealthCheckOptions>() : new[] { new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 0 } } },
    };

    [Fact]
    public async Task After_a_revert_rollback_the_default_target_is_not_the_release_rolled_back_from()
    {
        using var git = new GitFixture().WithReleases();

        var reverted = await RollbackEngine.InvokeAsync(Request(git).WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert }), git.Context());
        var assessment = await RollbackEngine.AssessAsync(Request(git), git.Context());
        var again = await RollbackEngine.InvokeAsync(Request(git).WithTarget<GitTarget>(t => t with { Mode = GitRollbackMode.Revert }), git.Context());

        Assert.Equal(RollbackOutcome.Succeeded, reverted!.Outcome);
        Assert.Equal("v2.3.1", reverted.FromVersion);
        Assert.Equal("v2.3.0", assessment.LastGoodVersion);
        Assert.Equal("v2.3.0", again!.ToVersion);
        Assert.Equal(RollbackOutcome.Skipped, again.Outcome);
        Assert.Equal("good\n", git.ReadFile());
    }

    [Fact]
    public async Task A_release_rolled_back_from_is_passed_over_when_a_later_release_fails()
    {
        using var git = new GitFixture().WithReleases();
        await RollbackEngine.InvokeAsync(Request(git), git.Context());
        using (var repo = git.Open())
        {
            LibGit2Sharp.Commands.Checkout(repo, repo.Branches["master"] ?? repo.Branches["main"]);
        }

        git.Commit("Release 2.3.2", content: "worse\n");
        git.Tag("v2.3.2");

        var assessment = await RollbackEngine.AssessAsync(Request(git), git.Context());

        Assert.Equal("v2.3.2", assessment.CurrentVersion);
        Assert.Equal("v2.3.0", assessment.LastGoodVersion);
    }

    [Fact]
    public async Task After_a_failed_verification_the_rerun_keeps_its_target_and_records_no_older_release_verified()
    {
        using var git = new GitFixture().WithReleases();
        var healthy = false;
        using var server = new LocalHttpServer((_, _) => healthy ? (200, "ok") : (503, "Unhealthy"));

        var first = await RollbackEngine.InvokeAsync(Request(git, server), git.Context());
        healthy = true;
        var rerun = await RollbackEngine.InvokeAsync(Request(git, server), git.Context());

        Assert.Equal(RollbackOutcome.Failed, first!.Outcome);
        Assert.Equal("v2.3.0", first.ToVersion);
        Assert.Equal("v2.3.0", rerun!.ToVersion);
        Assert.Equal(git.TagSha("v2.3.0"), git.HeadSha);
        Assert.DoesNotContain(git.State().Journal.GetVerified(), v => v.Version == "v2.2.0");
    }

    [Fact]
    public async Task A_health_endpoint_that_stays_503_is_not_called_transient()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (503, "{\"status\":\"Unhealthy\"}"));
        var request = Request(git) with { Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 2, Interval = TimeSpan.FromMilliseconds(10) } } } };

        var assessment = await RollbackEngine.AssessAsync(request, git.Context());

        Assert.Equal(FailureType.HealthCheckFailed, assessment.FailureType);
        Assert.Equal("Git", assessment.RecommendedStrategy);
    }

    [Fact]
    public async Task A_503_that_names_a_dependencys_refused_connection_or_an_intermittent_check_recommends_a_retry()
    {
        using var git = new GitFixture().WithReleases();
        using var dependencyDown = new LocalHttpServer((_, _) => (503, "{\"status\":\"Unhealthy\",\"postgres\":\"connect ECONNREFUSED 10.0.0.5:5432\"}"));
        var answers = 0;
        using var flaky = new LocalHttpServer((_, _) => Interlocked.Increment(ref answers) % 2 == 1 ? (503, "busy") : (200, "ok"));
        HealthCheckOptions Check(LocalHttpServer server) => new() { Uri = new Uri(server.Url()), Retries = 2, Interval = TimeSpan.FromMilliseconds(10) };

        var named = await RollbackEngine.AssessAsync(Request(git) with { Verification = new VerificationOptions { HealthChecks = new[] { Check(dependencyDown) } } }, git.Context());
        var intermittent = await RollbackEngine.AssessAsync(Request(git) with { Reason = "HTTP 503 from /health", Verification = new VerificationOptions { HealthChecks = new[] { Check(flaky) } } }, git.Context());

        Assert.Equal(QuickRetry.StrategyName, named.RecommendedStrategy);
        Assert.Equal(QuickRetry.StrategyName, intermittent.RecommendedStrategy);
    }

    [Fact]
    public async Task Time_to_recovery_is_reported_only_for_a_verified_rollback()
    {
        using var git = new GitFixture().WithReleases();

        var unverified = await RollbackEngine.InvokeAsync(Request(git), git.Context());
        var signal = new SignalStore(git.State()).Read(new[] { SignalNames.RollbackComplete }).Single();

        Assert.Equal(RollbackOutcome.Succeeded, unverified!.Outcome);
        Assert.Null(unverified.TimeToRecovery);
        Assert.Null(signal.Data["time_to_recovery_seconds"]);
    }
}
