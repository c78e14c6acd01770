using System.Text.Json;
using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>The in-memory strategy with logs: its checkpoint keeps a log, and reading its logs does what a test says.</summary>
public sealed class LoggingMemorySession(MemorySystem system, RollbackRequest request, Func<DateTimeOffset, CancellationToken, Task<LogSample?>> read) : IRollbackSession, IReadsLogs
{
    private readonly MemorySession inner = new(system, request);

    public TargetIdentity Target => inner.Target;

    public Task<StrategyAssessment> AssessAsync() => inner.AssessAsync();

    public async Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        writer.AddLog("app.log", "INFO up\nERROR db down: postgres://app:hunter2@db/app\nINFO retry\nERROR db down\n");
        return await inner.CaptureCheckpointAsync(writer);
    }

    public Task<RollbackPlan> PlanAsync() => inner.PlanAsync();

    public Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint) => inner.ExecuteStepAsync(step, plan, checkpoint);

    public Task<VersionIdentity> GetCurrentVersionAsync() => inner.GetCurrentVersionAsync();

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified) => inner.CompleteAsync(plan, verified);

    public Task<bool> CaptureVerifiedSnapshotAsync(string folder) => inner.CaptureVerifiedSnapshotAsync(folder);

    public Task<LogSample?> ReadRecentLogsAsync(DateTimeOffset since, CancellationToken cancellation)
    {
        system.Calls.Add("read logs");
        return read(since, cancellation);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

public class LogEvidenceRunTests
{
    private static EngineContext Context(MemorySystem system, StateRoot state, Func<DateTimeOffset, CancellationToken, Task<LogSample?>> read, RecordingObserver? observer = null) =>
        new(state, observer ?? new RecordingObserver(), CancellationToken.None)
        {
            HostStrategies = (request, _) => request.Deployment is MemoryTarget ? new LoggingMemorySession(system, request, read) : null,
        };

    private static RollbackRequest Request() => new()
    {
        Deployment = new MemoryTarget(),
        Verification = new VerificationOptions { SmokeTests = new[] { new ScriptAction("pass", _ => Task.FromResult(new ScriptOutcome(true, "", 0))) } },
    };

    private static LogComparison? Compared(StateRoot state) =>
        state.Journal.GetEvents("memory:app").Where(e => e.Kind == JournalEventKinds.LogsCompared).Select(e => JsonSerializer.Deserialize<LogComparison>(e.Detail, Journal.JsonOptions)).SingleOrDefault();

    [Fact]
    public async Task After_verification_and_before_keeping_the_logs_since_the_change_are_compared_with_the_checkpoints()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem();
        var state = StateRoot.Open(temp.Path);
        var reads = new List<(DateTimeOffset Since, DateTimeOffset At)>();
        var started = DateTimeOffset.UtcNow;

        var result = await RollbackEngine.InvokeAsync(Request(), Context(system, state, (since, _) =>
        {
            reads.Add((since, DateTimeOffset.UtcNow));
            return Task.FromResult<LogSample?>(new LogSample(new[] { "INFO up", "INFO ready", "INFO served /", "ERROR one slow query" }, new[] { "memory" }));
        }));

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(new[] { "checkpoint", "switch v1", "read logs", "keep" }, system.Calls);
        // Asked for the lines since the change: after the invocation began, before the read.
        var read = Assert.Single(reads);
        Assert.InRange(read.Since, started, read.At);
        var compared = Compared(state)!;
        Assert.Equal(LogVerdict.NoSpike, compared.Verdict);
        Assert.Equal((2, 4, 1, 4), (compared.BeforeErrorLines, compared.BeforeLines, compared.AfterErrorLines, compared.AfterLines));
        Assert.Equal(result.CheckpointName, compared.Checkpoint);
        Assert.Equal(result.AttemptId, state.Journal.GetEvents("memory:app").Single(e => e.Kind == JournalEventKinds.LogsCompared).AttemptId);
        Assert.DoesNotContain("hunter2", string.Join(" ", compared.BeforeExamples));
        Assert.True(Checklist.Build(state, result).Single(i => i.Item == "No error spikes in logs").Done);
    }

    [Fact]
    public async Task Logs_that_cannot_be_read_are_no_evidence_and_the_rollback_still_succeeds()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem();
        var state = StateRoot.Open(temp.Path);

        var result = await RollbackEngine.InvokeAsync(Request(), Context(system, state, (_, _) => throw new InvalidOperationException("the log endpoint said 500 (token=abcdef123456)")));

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal("v1", system.Current);
        var compared = Compared(state)!;
        Assert.Equal(LogVerdict.NoEvidence, compared.Verdict);
        Assert.Equal("the target's logs could not be read after the rollback (the log endpoint said 500 (token=" + SecretRedactor.Mask + "))", compared.Reason);
        var item = Checklist.Build(state, result).Single(i => i.Item == "No error spikes in logs");
        Assert.False(item.Done);
        Assert.StartsWith("no evidence: the target's logs could not be read after the rollback", item.Evidence);
    }

    [Fact]
    public async Task A_target_with_nothing_to_read_is_no_evidence_and_a_spike_is_a_warning_not_a_failure()
    {
        using var temp = new TempDirectory();
        var nothing = StateRoot.Open(temp.Combine("nothing"));
        var noisy = StateRoot.Open(temp.Combine("noisy"));
        var observer = new RecordingObserver();

        var none = await RollbackEngine.InvokeAsync(Request(), Context(new MemorySystem(), nothing, (_, _) => Task.FromResult<LogSample?>(null)));
        var spike = await RollbackEngine.InvokeAsync(Request(), Context(new MemorySystem(), noisy, (_, _) => Task.FromResult<LogSample?>(new LogSample(new[] { "ERROR a", "ERROR b" }, new[] { "memory" })), observer));

        Assert.Equal(RollbackOutcome.Succeeded, none!.Outcome);
        Assert.Equal("the target had no container or pod to read logs from after the rollback", Compared(nothing)!.Reason);
        Assert.Equal(RollbackOutcome.Succeeded, spike!.Outcome);
        Assert.Equal(LogVerdict.Spike, Compared(noisy)!.Verdict);
        Assert.Contains("WARNING: Error lines in the logs: spike: 2 error lines in 2 after the rollback against 2 in 4 before. For example: ERROR a", observer.Messages);
    }

    [Fact]
    public async Task Nothing_is_read_when_a_step_failed_or_there_was_nothing_to_change()
    {
        using var temp = new TempDirectory();
        var failing = new MemorySystem { FailSwitch = true };
        var unchanged = new MemorySystem { Current = "v1" };

        await RollbackEngine.InvokeAsync(Request(), Context(failing, StateRoot.Open(temp.Combine("failing")), (_, _) => throw new InvalidOperationException("not to be read")));
        await RollbackEngine.InvokeAsync(Request(), Context(unchanged, StateRoot.Open(temp.Combine("unchanged")), (_, _) => throw new InvalidOperationException("not to be read")));

        Assert.DoesNotContain("read logs", failing.Calls);
        Assert.DoesNotContain("read logs", unchanged.Calls);
        Assert.Null(Compared(StateRoot.Open(temp.Combine("failing"))));
    }
}
