using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace DeploymentRollback.Engine;

/// <summary>Kinds of event the journal keeps besides attempts; the checklist is ticked from them.</summary>
public static class JournalEventKinds
{
    public const string Assessed = "Assessed";
    public const string CheckpointCreated = "CheckpointCreated";
    public const string SignalEmitted = "SignalEmitted";
    public const string HealthChecked = "HealthChecked";
    public const string ReportWritten = "ReportWritten";
    public const string LockBroken = "LockBroken";

    /// <summary>An attempt's logs after the rollback against the checkpoint's: a <see cref="LogComparison"/> as JSON.</summary>
    public const string LogsCompared = "LogsCompared";

    /// <summary>
    /// A measurement of the target (by the watcher), as JSON: {"Probe":"prometheus","Query":"...","Value":0.01,
    /// "Condition":"&lt; 0.05","Passed":true,"Error":null}; Error is set when nothing could be measured.
    /// </summary>
    public const string Measured = "Measured";
}

public sealed record JournalEvent(string TargetKey, string? AttemptId, DateTimeOffset At, string Kind, string Detail);

/// <summary>
/// The journal, whatever store holds it: every rollback attempt (with its full result), every version recorded
/// verified-good per target, and the events that prove checklist items. A write for a target whose lock this
/// process holds carries the lock's fencing token and is refused once another holder has taken the lock over.
/// </summary>
public abstract class Journal
{
    /// <summary>The layout version this build writes; a store written by a newer one is refused, an older one upgraded.</summary>
    public const int SchemaVersion = 3;

    internal static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = false,
        Converters = { new AttemptJsonConverter(), new JsonStringEnumConverter(), new DeploymentTargetConverter() },
        TypeInfoResolver = System.Text.Json.Serialization.Metadata.JsonTypeInfoResolver.Combine(JournalJson.Default, TargetJson.Default, new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver()),
    };

    /// <summary>Where the journal is, as an admin should read it (never with a password or key).</summary>
    public abstract string Location { get; }

    public abstract void StartAttempt(RollbackResult attempt);

    public abstract void CompleteAttempt(RollbackResult attempt);

    /// <summary>Attempts, newest first; an attempt whose process died mid-way stays 'Running' and is returned as Failed.</summary>
    public abstract IReadOnlyList<RollbackResult> GetAttempts(string? targetKey = null, string? attemptId = null, DateTimeOffset? since = null, int limit = 1000);

    public abstract void RecordVerified(VerifiedVersion verified);

    /// <summary>
    /// Verified-good versions, newest first. A snapshot is named as the store keeps it (a folder, or a shared store's
    /// reference): <see cref="StateRoot.SnapshotFolder"/> gives the folder to read, fetching it only then.
    /// </summary>
    public abstract IReadOnlyList<VerifiedVersion> GetVerified(string? targetKey = null, int limit = 1000);

    public abstract void AddEvent(JournalEvent journalEvent);

    public abstract IReadOnlyList<JournalEvent> GetEvents(string targetKey, DateTimeOffset? since = null);

    /// <summary>Removes the target's events of one kind except the newest keep (a watcher's measurements are capped so).</summary>
    public abstract void PruneEvents(string targetKey, string kind, int keep);

    /// <summary>
    /// The versions the target's attempts set out to leave (a no-op, where from and to are the same, leaves nothing):
    /// a version once rolled back from is never a default target again.
    /// </summary>
    public abstract IReadOnlyList<string> GetRolledBackFromVersions(string targetKey);

    /// <summary>Which process runs an attempt, so a later run can tell an attempt whose process died from one still running.</summary>
    public abstract void SetAttemptOwner(string attemptId, string owner);

    /// <summary>The target's attempts still recorded as running, oldest first, with the process that ran them (null when unknown).</summary>
    public abstract IReadOnlyList<(RollbackResult Attempt, string? Owner)> GetRunningAttempts(string targetKey);

    /// <summary>
    /// The version the target's newest attempt left it at, when that attempt succeeded or had nothing to do: running
    /// the same rollback again must find it there and skip, not go further back.
    /// </summary>
    public string? LastRollbackTarget(string targetKey) =>
        GetAttempts(targetKey, limit: 1).FirstOrDefault(a => a.Outcome is RollbackOutcome.Succeeded or RollbackOutcome.Skipped)?.ToVersion;

    /// <summary>The fencing token of the lock this process holds on the target, if it holds one; set by the store.</summary>
    internal Func<string, long?> FenceOf { get; set; } = _ => null;

    /// <summary>Stored as round-trip UTC text, so text order is time order.</summary>
    internal static string Stamp(DateTimeOffset time) => time.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

    internal static DateTimeOffset ParseStamp(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    /// <summary>
    /// An event's JSON detail, or null when it does not read as one (damaged, or written by another version): such a
    /// record is left out by its readers rather than failing the command that reads history.
    /// </summary>
    internal static T? ReadDetail<T>(JournalEvent e) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(e.Detail, JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>An attempt read back: one that never finished is reported Failed (its row still says Running).</summary>
    protected static RollbackResult ReadAttempt(string json, string outcome)
    {
        var result = JsonSerializer.Deserialize<RollbackResult>(json, JsonOptions) ?? throw new JsonException("An attempt record holds no result.");
        if (outcome == "Running")
        {
            result.Outcome = RollbackOutcome.Failed;
            result.Message ??= "The attempt did not finish (its process ended or is still running).";
        }

        return result;
    }

    protected RollbackException LockLost(string targetKey, long token) => new(ErrorIds.RollbackLockLost, RollbackErrorKind.ResourceBusy,
        $"This run no longer holds the lock on '{targetKey}' (its fencing token {token} was superseded: the lock was broken with Unlock-RollbackTarget or expired and was taken over), so its journal record was refused. Check Get-RollbackLock and Get-RollbackHistory to see who holds the target now before acting again.")
    { TargetName = targetKey };

    protected RollbackException TooNew(int found) => new(ErrorIds.StateStoreTooNew, RollbackErrorKind.InvalidOperation,
        $"The state store {Location} was written by a newer version of DeploymentRollback (layout {found}; this version reads up to {SchemaVersion}). Update the module on this machine (Update-Module DeploymentRollback) before using this store.");
}
