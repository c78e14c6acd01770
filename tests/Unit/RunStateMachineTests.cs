using DeploymentRollback.Engine;
using Xunit;

namespace DeploymentRollback.Tests.Unit;

/// <summary>A target that lives in memory: a list of versions and the current one.</summary>
public sealed record MemoryTarget : DeploymentTarget
{
    public string Name { get; init; } = "app";
}

/// <summary>What the in-memory strategy's target holds, shared by the sessions of one test.</summary>
public sealed class MemorySystem
{
    public string Current { get; set; } = "v2";
    public List<string> Versions { get; } = new() { "v1", "v2" };
    public List<string> Calls { get; } = new();
    /// <summary>Steps that throw instead of switching.</summary>
    public bool FailSwitch { get; set; }
    /// <summary>Steps that wait until cancelled.</summary>
    public bool HangSwitch { get; set; }
    public int SessionsDisposed { get; set; }

    public EngineContext Context(StateRoot state, IRollbackObserver? observer = null, CancellationToken cancellation = default) =>
        new(state, observer ?? new RecordingObserver(), cancellation)
        {
            HostStrategies = (request, _) => request.Deployment is MemoryTarget ? new MemorySession(this, request) : null,
        };
}

/// <summary>The smallest strategy: one step that switches the current version; CompleteAsync(false) switches back.</summary>
public sealed class MemorySession : IRollbackSession
{
    private readonly MemorySystem system;
    private readonly RollbackRequest request;
    private string? replaced;

    public MemorySession(MemorySystem system, RollbackRequest request)
    {
        this.system = system;
        this.request = request;
        Target = new TargetIdentity("memory:" + request.DeploymentAs<MemoryTarget>().Name, request.DeploymentAs<MemoryTarget>().Name);
    }

    public TargetIdentity Target { get; }

    public Task<StrategyAssessment> AssessAsync() => Task.FromResult(new StrategyAssessment { CurrentVersion = system.Current, LastGoodVersion = "v1" });

    public Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer)
    {
        system.Calls.Add("checkpoint");
        writer.AddText("current.txt", system.Current);
        return Task.FromResult(new VersionIdentity(system.Current, null));
    }

    public Task<RollbackPlan> PlanAsync()
    {
        var to = request.Target ?? "v1";
        return Task.FromResult(new RollbackPlan
        {
            Strategy = request.Strategy,
            TargetKey = Target.Key,
            Path = Target.Location,
            FromVersion = system.Current,
            ToVersion = to,
            SkipReason = to == system.Current ? $"already at {to}" : null,
            Steps = new[] { new PlanStep { Order = 1, Action = "Switch", Target = to, Description = $"Switch to {to}" } },
        });
    }

    public async Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint)
    {
        system.Calls.Add("switch " + plan.ToVersion);
        if (system.HangSwitch)
        {
            await Task.Delay(Timeout.Infinite, CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30), Cancellation).ConfigureAwait(false);
        }

        if (system.FailSwitch)
        {
            throw new RollbackException("MemorySwitchFailed", RollbackErrorKind.InvalidOperation, "the switch failed");
        }

        replaced = system.Current;
        system.Current = plan.ToVersion!;
        return new StepResult { Status = StepStatus.Succeeded, Message = "switched" };
    }

    public CancellationToken Cancellation { get; set; }

    public Task<VersionIdentity> GetCurrentVersionAsync() => Task.FromResult(new VersionIdentity(system.Current, null));

    public Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified)
    {
        system.Calls.Add(verified ? "keep" : "undo");
        if (!verified && replaced is not null)
        {
            system.Current = replaced;
        }

        return Task.FromResult<StepResult?>(null);
    }

    public Task<bool> CaptureVerifiedSnapshotAsync(string folder) => Task.FromResult(false);

    public ValueTask DisposeAsync()
    {
        system.SessionsDisposed++;
        return ValueTask.CompletedTask;
    }
}

/// <summary>The engine's phases against the in-memory strategy: what every strategy gets from Core without writing it.</summary>
public class RunStateMachineTests
{
    private static RollbackRequest Request(string? target = null) => new() { Deployment = new MemoryTarget(), Target = target };

    private static ScriptAction Check(bool passes) => new(passes ? "pass" : "fail", _ => Task.FromResult(new ScriptOutcome(passes, "", passes ? 0 : 1)));

    [Fact]
    public async Task A_verified_rollback_checkpoints_switches_keeps_and_journals_with_numbered_timed_steps()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem();
        var state = StateRoot.Open(temp.Combine("state"));

        var result = await RollbackEngine.InvokeAsync(Request() with { Verification = new VerificationOptions { SmokeTests = new[] { Check(true) } } }, system.Context(state));

        Assert.Equal(RollbackOutcome.Succeeded, result!.Outcome);
        Assert.Equal(VerificationOutcome.Passed, result.Verification);
        Assert.Equal(new[] { "checkpoint", "switch v1", "keep" }, system.Calls);
        Assert.Equal("v1", system.Current);
        Assert.Equal(1, system.SessionsDisposed);
        Assert.Equal("Switch v1", result.Steps[1].Name);
        Assert.All(result.Steps, s => Assert.True(s.StartedAt > DateTimeOffset.MinValue && s.Duration >= TimeSpan.Zero));
        Assert.Equal("Memory", result.Strategy);
        Assert.IsType<MemoryTarget>(result.Deployment);
        Assert.Equal(RollbackOutcome.Succeeded, Assert.Single(state.Journal.GetAttempts("memory:app")).Outcome);
        Assert.Equal("v1", Assert.Single(state.Journal.GetVerified("memory:app")).Version);
        Assert.Equal(new[] { SignalNames.RollbackStarted, SignalNames.RollbackComplete }, result.Signals);
    }

    [Fact]
    public async Task Without_consent_nothing_runs_and_nothing_is_journaled()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem();
        var state = StateRoot.Open(temp.Combine("state"));
        var observer = new RecordingObserver(consent: false);

        var result = await RollbackEngine.InvokeAsync(Request(), system.Context(state, observer));

        Assert.Null(result);
        Assert.Empty(system.Calls);
        Assert.Equal("v2", system.Current);
        Assert.Empty(state.Journal.GetAttempts("memory:app"));
        Assert.Contains(observer.Asked, a => a.StartsWith("Create checkpoint", StringComparison.Ordinal));
        Assert.Contains("Switch to v1", observer.Asked);
    }

    [Fact]
    public async Task A_failed_verification_undoes_the_switch_and_fails_the_attempt()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem();
        var state = StateRoot.Open(temp.Combine("state"));

        var result = await RollbackEngine.InvokeAsync(Request() with { Verification = new VerificationOptions { SmokeTests = new[] { Check(false) } } }, system.Context(state));

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        Assert.Equal(new[] { "checkpoint", "switch v1", "undo" }, system.Calls);
        Assert.Equal("v2", system.Current);
        Assert.Empty(state.Journal.GetVerified("memory:app"));
        Assert.Contains(SignalNames.RollbackFailed, result.Signals);
    }

    [Fact]
    public async Task A_failed_step_is_recorded_with_its_error_id_and_undone()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem { FailSwitch = true };
        var state = StateRoot.Open(temp.Combine("state"));

        var result = await RollbackEngine.InvokeAsync(Request(), system.Context(state));

        Assert.Equal(RollbackOutcome.Failed, result!.Outcome);
        Assert.Equal("MemorySwitchFailed", result.Steps.Single(s => s.Status == StepStatus.Failed).ErrorId);
        Assert.Equal("undo", system.Calls.Last());
    }

    [Fact]
    public async Task Cancellation_marks_the_step_cancelled_undoes_and_records_the_attempt()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem { HangSwitch = true };
        var state = StateRoot.Open(temp.Combine("state"));
        using var cancel = new CancellationTokenSource();
        var context = new EngineContext(state, new RecordingObserver(), cancel.Token)
        {
            HostStrategies = (request, _) => request.Deployment is MemoryTarget ? new MemorySession(system, request) { Cancellation = cancel.Token } : null,
        };

        var run = RollbackEngine.InvokeAsync(Request(), context);
        while (!system.Calls.Contains("switch v1"))
        {
            await Task.Delay(10);
        }

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);

        var attempt = Assert.Single(state.Journal.GetAttempts("memory:app"));
        Assert.Equal(RollbackOutcome.Failed, attempt.Outcome);
        Assert.Equal(StepStatus.Cancelled, attempt.Steps.Last().Status);
        Assert.Equal("undo", system.Calls.Last());
    }

    [Fact]
    public async Task The_third_failure_in_the_window_escalates_and_the_fourth_run_is_refused_without_force()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem { FailSwitch = true };
        var state = StateRoot.Open(temp.Combine("state"));

        var outcomes = new List<RollbackOutcome>();
        for (var i = 0; i < 3; i++)
        {
            outcomes.Add((await RollbackEngine.InvokeAsync(Request(), system.Context(state)))!.Outcome);
        }

        var refused = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request(), system.Context(state)));
        system.FailSwitch = false;
        var forced = await RollbackEngine.InvokeAsync(Request() with { Force = true }, system.Context(state));

        Assert.Equal(new[] { RollbackOutcome.Failed, RollbackOutcome.Failed, RollbackOutcome.Escalated }, outcomes);
        Assert.Equal(ErrorIds.RollbackEscalated, refused.ErrorId);
        Assert.Equal(RollbackOutcome.Succeeded, forced!.Outcome);
        Assert.Equal(3, state.Journal.GetAttempts("memory:app").Count(a => a.Outcome != RollbackOutcome.Succeeded));
    }

    [Fact]
    public async Task A_second_run_on_the_same_target_waits_for_the_lock_and_gives_up_with_an_error_id()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem { HangSwitch = true };
        var state = StateRoot.Open(temp.Combine("state"));
        using var cancel = new CancellationTokenSource();
        var first = RollbackEngine.InvokeAsync(Request(), new EngineContext(state, new RecordingObserver(), cancel.Token)
        {
            HostStrategies = (request, _) => new MemorySession(system, request) { Cancellation = cancel.Token },
        });
        while (!system.Calls.Contains("switch v1"))
        {
            await Task.Delay(10);
        }

        var second = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(Request() with { LockTimeout = TimeSpan.FromMilliseconds(300) }, system.Context(StateRoot.Open(temp.Combine("state")))));
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        Assert.Equal(ErrorIds.RollbackLockTimeout, second.ErrorId);
        Assert.Single(state.Journal.GetAttempts("memory:app"));
    }

    [Fact]
    public async Task Nothing_to_change_still_verifies_and_an_unhealthy_target_fails_the_skip()
    {
        using var temp = new TempDirectory();
        var system = new MemorySystem();
        var state = StateRoot.Open(temp.Combine("state"));

        var healthy = await RollbackEngine.InvokeAsync(Request("v2") with { Verification = new VerificationOptions { SmokeTests = new[] { Check(true) } } }, system.Context(state));
        var unhealthy = await RollbackEngine.InvokeAsync(Request("v2") with { Verification = new VerificationOptions { SmokeTests = new[] { Check(false) } } }, system.Context(state));

        Assert.Equal(RollbackOutcome.Skipped, healthy!.Outcome);
        Assert.Equal(RollbackOutcome.Failed, unhealthy!.Outcome);
        Assert.Empty(system.Calls);
    }

    [Fact]
    public async Task A_journaled_result_reads_back_with_its_target_record_and_an_unknown_strategy_reads_as_no_target()
    {
        using var temp = new TempDirectory();
        var state = StateRoot.Open(temp.Combine("state"));
        var git = new RollbackResult { AttemptId = "a1", Strategy = "Git", TargetKey = "git:/srv/app", Deployment = new GitTarget { Path = "/srv/app", Mode = GitRollbackMode.Revert } };
        var memory = new RollbackResult { AttemptId = "a2", Strategy = "Memory", TargetKey = "memory:app", Deployment = new MemoryTarget() };
        state.Journal.StartAttempt(git);
        state.Journal.StartAttempt(memory);

        var readGit = Assert.Single(state.Journal.GetAttempts(attemptId: "a1"));
        var readMemory = Assert.Single(state.Journal.GetAttempts(attemptId: "a2"));

        var target = Assert.IsType<GitTarget>(readGit.Deployment);
        Assert.Equal(("/srv/app", GitRollbackMode.Revert), (target.Path, target.Mode));
        Assert.Null(readMemory.Deployment);
    }
}
