using DeploymentRollback.Engine;
using DeploymentRollback.Engine.Retry;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core;

public class QuickRetryTests
{
    private static ScriptAction Deploy(string counterFile, int succeedOnAttempt) => new("deploy.sh", _ =>
    {
        var count = File.Exists(counterFile) ? int.Parse(File.ReadAllText(counterFile)) + 1 : 1;
        File.WriteAllText(counterFile, count.ToString());
        return Task.FromResult(new ScriptOutcome(count >= succeedOnAttempt, $"attempt {count}", count >= succeedOnAttempt ? 0 : 1));
    });

    [Fact]
    public async Task Retries_until_the_deployment_succeeds_and_records_each_attempt()
    {
        using var git = new GitFixture();
        var counter = git.Temp.Combine("count");

        var results = await QuickRetry.RunAsync(new RetryRequest { Deploy = Deploy(counter, 2), Delay = TimeSpan.FromMilliseconds(50), TargetKey = "retry:shop" }, git.Context());

        Assert.Equal(new[] { RollbackOutcome.Failed, RollbackOutcome.Succeeded }, results.Select(r => r.Outcome));
        Assert.Equal(2, git.State().Journal.GetAttempts("retry:shop").Count);
    }

    [Fact]
    public async Task A_failure_that_is_not_transient_escalates_on_the_third_attempt()
    {
        using var git = new GitFixture();

        var results = await QuickRetry.RunAsync(new RetryRequest { Deploy = Deploy(git.Temp.Combine("count"), 99), Delay = TimeSpan.Zero, TargetKey = "retry:shop" }, git.Context());
        var refused = await Assert.ThrowsAsync<RollbackException>(() => QuickRetry.RunAsync(new RetryRequest { Deploy = Deploy(git.Temp.Combine("count"), 99), Delay = TimeSpan.Zero, TargetKey = "retry:shop" }, git.Context()));

        Assert.Equal(new[] { RollbackOutcome.Failed, RollbackOutcome.Failed, RollbackOutcome.Escalated }, results.Select(r => r.Outcome));
        Assert.Single(new SignalStore(git.State()).Read(new[] { SignalNames.ManualInterventionRequired }));
        Assert.Equal(ErrorIds.RollbackEscalated, refused.ErrorId);
    }

    [Fact]
    public async Task A_deployment_that_runs_but_fails_its_health_check_is_not_a_success()
    {
        using var git = new GitFixture();
        var request = new RetryRequest
        {
            Deploy = Deploy(git.Temp.Combine("count"), 1),
            Delay = TimeSpan.Zero,
            MaxAttempts = 1,
            HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri($"http://127.0.0.1:{LocalHttpServer.FreePort()}/health"), Retries = 0 } },
        };

        var result = Assert.Single(await QuickRetry.RunAsync(request, git.Context()));

        Assert.Equal(RollbackOutcome.Failed, result.Outcome);
        Assert.Equal(VerificationOutcome.Failed, result.Verification);
    }

    [Fact]
    public async Task Assessment_recommends_a_retry_when_the_failure_looks_transient()
    {
        using var git = new GitFixture().WithReleases();
        using var server = new LocalHttpServer((_, _) => (503, "{\"redis\":\"connection refused\"}"));

        var assessment = await RollbackEngine.AssessAsync(new RollbackRequest { Deployment = new GitTarget { Path = git.RepoPath }, Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(server.Url()), Retries = 0 } } } }, git.Context());

        Assert.Equal(QuickRetry.StrategyName, assessment.RecommendedStrategy);
        Assert.Contains("Invoke-DeploymentRetry", assessment.Rationale);
    }
}
