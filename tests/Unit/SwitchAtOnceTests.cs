using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>The in-memory strategy as a switch made at once: what the journal and the checkpoint hold when the step runs.</summary>
public sealed class SwitchAtOnceSession : IRollbackSession, ISwitchesAtOnce
{
    private readonly MemorySession inner;
    private readonly StateRoot state;

    public SwitchAtOnceSession(MemorySystem system, RollbackRequest request, StateRoot state)
    {
        inner = new MemorySession(system, request);
        this.state = state;
    }

    /// <summary>Attempts of the target in the journal when the step ran.</summary>
    public int AttemptsJournaledAtSwitch { get; private set; } = -1;

    /// <summary>Whether the checkpoint's manifest was on disk when the step ran.</summary>
    public bool CheckpointWrittenAtSwitch { get; private set; }

    public TargetIdentity Target => inner.Target;

    public Task<StrategyAssessment> AssessAsync() => inner.AssessAsync();

    public Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer) => inner.CaptureCheckpointAsync(writer);

    public Task<RollbackPlan> PlanAsync() => inner.PlanAsync();

    public Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        AttemptsJournaledAtSwitch = state.Journal.GetAttempts(Target.Key).Count;
        CheckpointWrittenAtSwitch = File.Exists(Path.Combine(checkpoint.Folder, "manifest.json"));
        return inner.ExecuteStepAsync(step, plan, checkpoint);
    }

    public Task<VersionIdentity> GetCurrentVersionAsync() => inner.GetCurrentVersionAsync();

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified) => inner.CompleteAsync(plan, verified);

    public Task<bool> CaptureVerifiedSnapshotAsync(string folder) => inner.CaptureVerifiedSnapshotAsync(folder);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

public class SwitchAtOnceTests
{
    private static (EngineContext Context, Func<SwitchAtOnceSession?> Session) Context(MemorySystem system, StateRoot state)
    {
        SwitchAtOnceSession? opened = null;
        var context = new EngineContext(state, new RecordingObserver(), default)
        {
            HostStrategies = (request, _) => opened = new SwitchAtOnceSession(system, request, state),
        };
        return (context, () => opened);
    }

    [Fact]
    public async Task The_switch_follows_the_checkpoint_and_the_attempt_is_journaled_after_it_with_the_same_records()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem();
        var state = StateRoot.Open(temp.Combine("state"));
        var (context, session) = Context(system, state);

        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new MemoryTarget(), Reason = "checkout errors" }, context);

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(new[] { "checkpoint", "switch v1", "keep" }, system.Calls);
        Assert.True(session()!.CheckpointWrittenAtSwitch);
        Assert.Equal(0, session()!.AttemptsJournaledAtSwitch);
        var attempt = Assert.Single(state.Journal.GetAttempts("memory:app"));
        Assert.Equal(RollbackOutcome.Succeeded, attempt.Outcome);
        Assert.Equal("checkout errors", attempt.Reason);
        Assert.Equal(result.CheckpointName, attempt.CheckpointName);
        var events = state.Journal.GetEvents("memory:app");
        Assert.Equal(new[] { "Checkpoint", "Switch" }, events.Where(e => e.Kind == InterruptedAttempts.StepStarted).Select(e => e.Detail.Contains("\"Switch\"") ? "Switch" : e.Detail.Contains("\"Checkpoint\"") ? "Checkpoint" : e.Detail));
        Assert.Contains(events, e => e.Kind == JournalEventKinds.CheckpointCreated && e.Detail == result.CheckpointName);
        Assert.Equal(new[] { SignalNames.RollbackStarted, SignalNames.RollbackComplete }, result.Signals);
    }

    [Fact]
    public async Task A_failed_switch_is_still_journaled_and_signalled_as_started_then_failed()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem { FailSwitch = true };
        var state = StateRoot.Open(temp.Combine("state"));
        var (context, _) = Context(system, state);

        var result = await RollbackEngine.InvokeAsync(new RollbackRequest { Deployment = new MemoryTarget() }, context);

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        Assert.Equal("MemorySwitchFailed", result.Steps.Single(s => s.Name == "Switch v1").ErrorId);
        Assert.Equal(RollbackOutcome.Failed, Assert.Single(state.Journal.GetAttempts("memory:app")).Outcome);
        Assert.Equal("Switch", InterruptedAttempts.LastStepStarted(state.Journal, result)!.Step);
        Assert.Equal(new[] { SignalNames.RollbackStarted, SignalNames.RollbackFailed }, result.Signals);
    }
}
