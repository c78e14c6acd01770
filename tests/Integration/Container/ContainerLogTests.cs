using System.Text.Json;
using DeploymentRollback.Engine;
using DeploymentRollback.Tests.Integration.Docker;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Container;

/// <summary>"No error spikes in logs": the new container's logs against the failed one's, kept by the checkpoint.</summary>
public class ContainerLogTests
{
    private static RollbackRequest Request(TestContainer container, string target) => new()
    {
        Deployment = new ContainerTarget { Name = container.Name, Timeout = TimeSpan.FromSeconds(30) },
        Target = target,
        Verification = new VerificationOptions { HealthChecks = new[] { new HealthCheckOptions { Uri = new Uri(container.HealthUri), Retries = 20, Interval = TimeSpan.FromMilliseconds(250) } } },
    };

    internal static LogComparison Compared(StateRoot state, RollbackResult attempt) =>
        JsonSerializer.Deserialize<LogComparison>(Assert.Single(state.Journal.GetEvents(attempt.TargetKey), e => e.Kind == JournalEventKinds.LogsCompared && e.AttemptId == attempt.AttemptId).Detail, Journal.JsonOptions)!;

    private static ChecklistItem Spikes(StateRoot state, RollbackResult attempt) => Checklist.Build(state, attempt).Single(i => i.Item == "No error spikes in logs");

    [RequiresFact(Component.Docker)]
    public async Task Fewer_error_lines_after_the_rollback_tick_the_item_with_the_counts()
    {
        LogImages.Ensure();
        using var git = new GitFixture();
        using var container = TestContainer.Prefixed("logs-", LogImages.Failing);
        container.WaitForHealth("unhealthy");

        var result = await RollbackEngine.InvokeAsync(Request(container, LogImages.Quiet), git.Context());

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message);
        var checkpoint = Assert.Single(new CheckpointStore(git.State()).List());
        Assert.Equal(new[] { "logs.txt" }, checkpoint.Logs);
        var compared = Compared(git.State(), result);
        Assert.Equal(LogVerdict.NoSpike, compared.Verdict);
        Assert.Equal((4, 10, 1, 8), (compared.BeforeErrorLines, compared.BeforeLines, compared.AfterErrorLines, compared.AfterLines));
        Assert.Equal(checkpoint.Name, compared.Checkpoint);
        Assert.StartsWith($"container {container.Name} (", Assert.Single(compared.Sources));
        Assert.InRange(compared.WindowSeconds, 0.1, 60);
        Assert.Contains("cache warm-up skipped one shard", Assert.Single(compared.Examples));
        Assert.Contains(compared.BeforeExamples, e => e.Contains("postgres://" + SecretRedactor.Mask + "@db:5432"));
        Assert.DoesNotContain("hunter2-logs", string.Join("\n", git.State().Journal.GetEvents(result.TargetKey).Select(e => e.Detail)));
        var item = Spikes(git.State(), result);
        Assert.True(item.Done, item.Evidence);
        Assert.Equal("1 error line in 8 after the rollback against 4 in 10 before", item.Evidence);
    }

    [RequiresFact(Component.Docker)]
    public async Task More_error_lines_after_the_rollback_are_a_spike_that_leaves_the_item_unticked_but_the_rollback_stands()
    {
        LogImages.Ensure();
        using var git = new GitFixture();
        using var container = TestContainer.Prefixed("logs-", LogImages.Failing);
        // Its start-up lines are all printed by then: the checkpoint's "before" is the whole log, not what a just
        // started container has printed so far (on a loaded machine the checkpoint once read fewer of its 10 lines).
        container.WaitForHealth("unhealthy");
        var observer = new RecordingObserver();

        var result = await RollbackEngine.InvokeAsync(Request(container, LogImages.Noisy), git.Context(observer));

        Assert.True(result!.Outcome == RollbackOutcome.Succeeded, result.Message);
        Assert.Equal(LogImages.Noisy, DockerHost.Inspect(container.Name, "{{.Config.Image}}"));
        var compared = Compared(git.State(), result);
        Assert.Equal(LogVerdict.Spike, compared.Verdict);
        Assert.Equal((5, 6), (compared.AfterErrorLines, compared.AfterLines));
        Assert.Equal(3, compared.Examples.Count);
        Assert.Contains(observer.Messages, m => m.StartsWith("WARNING: Error lines in the logs: spike: 5 error lines in 6 after the rollback against 4 in 10 before. For example: ", StringComparison.Ordinal));
        var item = Spikes(git.State(), result);
        Assert.False(item.Done);
        Assert.Equal("spike: 5 error lines in 6 after the rollback against 4 in 10 before", item.Evidence);
    }

    [RequiresFact(Component.Docker)]
    public async Task A_checkpoint_made_before_the_rollback_and_given_to_it_is_its_before()
    {
        LogImages.Ensure();
        using var git = new GitFixture();
        using var container = TestContainer.Prefixed("logs-", LogImages.Failing);
        container.WaitForHealth("unhealthy");
        var request = Request(container, LogImages.Quiet);
        var checkpoint = await RollbackEngine.CreateCheckpointAsync(request, git.Context());

        var result = await RollbackEngine.InvokeAsync(request with { ExistingCheckpoint = checkpoint }, git.Context());

        var compared = Compared(git.State(), result!);
        Assert.Equal(checkpoint!.Name, compared.Checkpoint);
        Assert.Equal((4, 10, 1, 8), (compared.BeforeErrorLines, compared.BeforeLines, compared.AfterErrorLines, compared.AfterLines));
    }
}
