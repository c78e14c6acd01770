using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>A service's release snapshots, kept as journal events of the plan's key (so every state store holds them).</summary>
public static class ReleaseSnapshots
{
    public const string RecordedKind = "ReleaseRecorded";

    public static void Record(StateRoot state, string planKey, ReleaseSnapshot snapshot) =>
        state.Journal.AddEvent(new JournalEvent(planKey, null, snapshot.RecordedAt, RecordedKind, JsonSerializer.Serialize(snapshot, Journal.JsonOptions)));

    /// <summary>Newest first; a record that does not read as a snapshot (damaged) is left out.</summary>
    public static IReadOnlyList<ReleaseSnapshot> List(StateRoot state, string planKey) =>
        Read(state, planKey).Readable;

    /// <summary>The release with this id or label (the newest of that label); the newest when null; null when none is recorded.</summary>
    public static ReleaseSnapshot? Find(StateRoot state, ServicePlan plan, string? idOrLabel)
    {
        var (all, newestUnreadable) = Read(state, plan.TargetKey);
        if (idOrLabel is null)
        {
            // Passing over a damaged newest record would roll back to an older release than the last one recorded.
            if (newestUnreadable is { } at && (all.Count == 0 || at > all[0].RecordedAt))
            {
                throw new RollbackException(ErrorIds.JournalCorrupt, RollbackErrorKind.InvalidOperation,
                    $"The newest release snapshot of {plan.Service} (recorded {at.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC) cannot be read: its journal record is damaged. " +
                    (all.Count == 0
                        ? "No other is recorded: record one with Test-RollbackHealth -Plan <file> -RecordVerified while the service works, or roll the components back one by one."
                        : $"Name the release to go back to with -Target (readable: {string.Join(", ", all.Take(5).Select(s => s.Label is null ? s.ReleaseId : $"{s.ReleaseId} ({s.Label})"))}; Get-RollbackHistory -Plan <file>)."))
                { TargetName = plan.Service };
            }

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

    private static (List<ReleaseSnapshot> Readable, DateTimeOffset? NewestUnreadable) Read(StateRoot state, string planKey)
    {
        var readable = new List<ReleaseSnapshot>();
        DateTimeOffset? newestUnreadable = null;
        foreach (var e in state.Journal.GetEvents(planKey))
        {
            if (e.Kind != RecordedKind)
            {
                continue;
            }

            if (Journal.ReadDetail<ReleaseSnapshot>(e) is { } snapshot)
            {
                readable.Add(snapshot);
            }
            else if (newestUnreadable is null || e.At > newestUnreadable)
            {
                newestUnreadable = e.At;
            }
        }

        return (readable.OrderByDescending(s => s.RecordedAt).ToList(), newestUnreadable);
    }

    public static string NewId(DateTimeOffset at) =>
        "rel-" + at.ToUniversalTime().ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..4];

    /// <summary>Whether a component is where the snapshot has it (by what pins it when both sides know that, else by version).</summary>
    public static bool Matches(ComponentVersion recorded, VersionIdentity now) =>
        recorded.Identity is not null && now.Identity is not null
            ? string.Equals(recorded.Identity, now.Identity, StringComparison.Ordinal)
            : string.Equals(recorded.Version, now.Version, StringComparison.Ordinal);
}
