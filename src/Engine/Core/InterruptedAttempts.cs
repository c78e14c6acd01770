using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>
/// Attempts whose process died (kill -9, power loss) stay 'Running' in the journal. Each attempt records which process
/// runs it and which step it is starting; the next run of the target, holding the target lock (so no live attempt can
/// hold it), marks such attempts Interrupted, signals ROLLBACK_FAILED and says where they stopped.
/// </summary>
public static class InterruptedAttempts
{
    /// <summary>Journal event kind written before each step; its detail says the step and, for a checkout, the commit it goes to.</summary>
    public const string StepStarted = "StepStarted";

    public sealed record StepStart(string Step, string? ToCommit);

    public static void Claim(Journal journal, RollbackResult attempt)
    {
        using var process = Process.GetCurrentProcess();
        journal.SetAttemptOwner(attempt.AttemptId, OwnerOf(process));
    }

    public static void RecordStepStart(Journal journal, RollbackResult attempt, string step, string? toCommit = null) =>
        journal.AddEvent(new JournalEvent(attempt.TargetKey, attempt.AttemptId, DateTimeOffset.UtcNow, StepStarted,
            JsonSerializer.Serialize(new StepStart(step, toCommit), Journal.JsonOptions)));

    /// <summary>The last step the attempt started, from the journal; null when none is recorded or its record is unreadable.</summary>
    public static StepStart? LastStepStarted(Journal journal, RollbackResult attempt) =>
        LastStepStartedEvent(journal, attempt) is { } started ? Journal.ReadDetail<StepStart>(started) : null;

    private static JournalEvent? LastStepStartedEvent(Journal journal, RollbackResult attempt) =>
        journal.GetEvents(attempt.TargetKey, attempt.StartedAt).LastOrDefault(e => e.AttemptId == attempt.AttemptId && e.Kind == StepStarted);

    /// <summary>Call with the target lock held. Returns the attempts it marked Interrupted.</summary>
    public static async Task<IReadOnlyList<RollbackResult>> RecoverAsync(string targetKey, Uri? webhookUri, EngineContext context)
    {
        var journal = context.State.Journal;
        var recovered = new List<RollbackResult>();
        foreach (var (attempt, owner) in journal.GetRunningAttempts(targetKey))
        {
            if (owner is not null && IsAlive(owner))
            {
                continue;
            }

            var started = LastStepStartedEvent(journal, attempt);
            var phase = started is null ? null : Journal.ReadDetail<StepStart>(started)?.Step;
            attempt.Outcome = RollbackOutcome.Interrupted;
            attempt.CompletedAt = DateTimeOffset.UtcNow;
            attempt.Duration = attempt.CompletedAt - attempt.StartedAt;
            attempt.TimeToRecovery = null;
            attempt.Message = $"The attempt at {attempt.StartedAt.ToUniversalTime():HH:mm} UTC ({attempt.AttemptId}) was interrupted " +
                (phase is not null ? $"during {phase}" : started is null ? "before its first step" : "during a step whose journal record is damaged") +
                ": its process ended before the attempt finished.";
            if (!await context.Observer.ShouldProcessAsync(targetKey, $"Record the attempt {attempt.AttemptId} as Interrupted and signal ROLLBACK_FAILED for it").ConfigureAwait(false))
            {
                context.Observer.Warning(attempt.Message);
                continue;
            }

            if (phase is not null)
            {
                attempt.Steps.Add(new StepResult { Name = phase, Status = StepStatus.Failed, StartedAt = attempt.StartedAt, Message = "Interrupted: the process ended during this step." });
            }

            journal.CompleteAttempt(attempt);
            await RollbackEngine.EmitAsync(SignalNames.RollbackFailed, attempt, webhookUri, context, ("error", attempt.Message), ("rolled_back_to", null)).ConfigureAwait(false);
            context.Observer.Warning(attempt.Message + $" This run of {targetKey} takes over from it.");
            recovered.Add(attempt);
        }

        return recovered;
    }

    /// <summary>How an attempt names the process that runs it: id, machine and start time (ids are reused).</summary>
    internal static string OwnerOf(Process process) =>
        string.Join('|', process.Id.ToString(CultureInfo.InvariantCulture), Environment.MachineName, StartStamp(process));

    /// <summary>
    /// Alive only when the same process (id and start time) still runs on this machine; an attempt of another machine
    /// is judged by the lock alone, which its process would still hold.
    /// </summary>
    private static bool IsAlive(string owner)
    {
        var parts = owner.Split('|');
        // This process holds the target lock, so an attempt of its own still 'Running' ended without being recorded.
        if (parts.Length != 3 || parts[1] != Environment.MachineName || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var pid) || pid == Environment.ProcessId)
        {
            return false;
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited && StartStamp(process) == parts[2];
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private static string StartStamp(Process process) => process.StartTime.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss", CultureInfo.InvariantCulture);
}
