using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>A service's release snapshots, kept as journal events of the plan's key (so every state store holds them).</summary>
public static class ReleaseSnapshots
{
    public const string RecordedKind = "ReleaseRecorded";

    public static void Record(StateRoot state, string planKey, ReleaseSnapshot snapshot) =>
        state.Journal.AddEvent(new JournalEvent(planKey, null, snapshot.RecordedAt, RecordedKind, JsonSerializer.Serialize(snapshot, Journal.JsonOptions)));

    /// <summary>Newest first.</summary>
    public static IReadOnlyList<ReleaseSnapshot> List(StateRoot state, string planKey) =>
        state.Journal.GetEvents(planKey)
            .Where(e => e.Kind == RecordedKind)
            .Select(e => JsonSerializer.Deserialize<ReleaseSnapshot>(e.Detail, Journal.JsonOptions)!)
            .OrderByDescending(s => s.RecordedAt)
            .ToList();

    /// <summary>The release with this id or label (the newest of that label); the newest when null; null when none is recorded.</summary>
    public static ReleaseSnapshot? Find(StateRoot state, ServicePlan plan, string? idOrLabel)
    {
        var all = List(state, plan.TargetKey);
        if (idOrLabel is null)
        {
            return all.FirstOrDefault();
        }

        return all.FirstOrDefault(s => s.ReleaseId.Equals(idOrLabel, StringComparison.OrdinalIgnoreCase))
            ?? all.FirstOrDefault(s => string.Equals(s.Label, idOrLabel, StringComparison.OrdinalIgnoreCase))
            ?? throw new RollbackException(ErrorIds.ReleaseSnapshotNotFound, RollbackErrorKind.ObjectNotFound,
                $"No release snapshot of {plan.Service} has the id or label '{idOrLabel}'. " +
                (all.Count == 0
                    ? $"None is recorded yet: record one with Test-RollbackHealth -Plan <file> -RecordVerified while the service works."
                    : $"Recorded: {string.Join(", ", all.Take(10).Select(s => s.Label is null ? s.ReleaseId : $"{s.ReleaseId} ({s.Label})"))} (Get-RollbackHistory -Plan <file>)."))
            { TargetName = idOrLabel };
    }

    public static string NewId(DateTimeOffset at) =>
        "rel-" + at.ToUniversalTime().ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..4];

    /// <summary>Whether a component is where the snapshot has it (by what pins it when both sides know that, else by version).</summary>
    public static bool Matches(ComponentVersion recorded, VersionIdentity now) =>
        recorded.Identity is not null && now.Identity is not null
            ? string.Equals(recorded.Identity, now.Identity, StringComparison.Ordinal)
            : string.Equals(recorded.Version, now.Version, StringComparison.Ordinal);
}
