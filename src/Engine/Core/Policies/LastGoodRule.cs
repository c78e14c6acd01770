namespace DeploymentRollback.Engine;

/// <summary>
/// A version to go back to, what pins it, and why it was chosen. PassedOver: newer verified-good versions that could not
/// be found any more (a garbage-collected commit, a deleted release folder), for a warning.
/// </summary>
public sealed record LastGood(string Version, string? Identity, string Source)
{
    public IReadOnlyList<string> PassedOver { get; init; } = Array.Empty<string>();
}

/// <summary>What the last-good rule asks of a strategy about its target's versions.</summary>
public interface ILastGoodHooks
{
    /// <summary>The identity of a version recorded earlier when it can still be gone back to (a tag that still exists, a release folder still there); else null.</summary>
    string? Locate(string version, string? recordedIdentity);

    /// <summary>Whether the target runs this identity now.</summary>
    bool IsCurrent(string identity);

    /// <summary>Whether a rerun takes up this attempt again although the target is not at its version (e.g. a half-done checkout).</summary>
    bool Resumes(RollbackResult attempt) => false;

    /// <summary>
    /// Whether a target already at its newest verified-good version stays there (nothing to do) rather than going to an
    /// older one: for targets whose version is not what failed when it was verified good since (a workload's template, a
    /// schema), going further back would undo good work.
    /// </summary>
    bool StaysOnNewestVerified => false;

    /// <summary>The strategy's own choice when no attempt or verified-good record applies; never one of rolledBackFrom.</summary>
    LastGood? Fallback(IReadOnlySet<string> rolledBackFrom);
}

/// <summary>
/// The last-good rule, the same for every strategy: stay on what the newest rollback attempt went to while the target
/// is there (a rerun never flips back); else the newest verified-good version that is not current and is still
/// available; else the strategy's own fallback. A version an attempt rolled back from is never chosen.
/// </summary>
public static class LastGoodRule
{
    /// <summary>strategy: the target's strategy; attempts of others on the same key (quick retries) are not versions of it.</summary>
    public static LastGood? Find(Journal journal, string targetKey, string strategy, ILastGoodHooks hooks)
    {
        var rolledBackFrom = journal.GetRolledBackFromVersions(targetKey).ToHashSet(StringComparer.Ordinal);
        if (journal.GetAttempts(targetKey, limit: 20).FirstOrDefault(a => a.Strategy == strategy) is { ToVersion: { } to } newest && !rolledBackFrom.Contains(to)
            && hooks.Locate(to, null) is { } toIdentity && (hooks.IsCurrent(toIdentity) || hooks.Resumes(newest)))
        {
            return new LastGood(to, toIdentity, newest.Outcome is RollbackOutcome.Succeeded or RollbackOutcome.Skipped
                ? "the version the last rollback went to"
                : $"the target of the last attempt ({newest.Outcome}, {newest.AttemptId})");
        }

        var newestVerified = true;
        var passedOver = new List<string>();
        foreach (var verified in journal.GetVerified(targetKey, limit: 50))
        {
            var identity = rolledBackFrom.Contains(verified.Version) ? null : hooks.Locate(verified.Version, verified.Commit);
            if (identity is not null && (!hooks.IsCurrent(identity) || (newestVerified && hooks.StaysOnNewestVerified)))
            {
                return new LastGood(verified.Version, identity, $"verified-good at {verified.RecordedAt:u}") { PassedOver = passedOver };
            }

            if (identity is null && !rolledBackFrom.Contains(verified.Version) && !passedOver.Contains(verified.Version))
            {
                passedOver.Add(verified.Version);
            }

            newestVerified = false;
        }

        return hooks.Fallback(rolledBackFrom) is { } fallback ? fallback with { PassedOver = passedOver } : null;
    }
}
