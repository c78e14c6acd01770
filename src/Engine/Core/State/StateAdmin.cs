using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>What an admin does to a store itself: see and break locks, and move a local state into a shared store.</summary>
public static class StateAdmin
{
    /// <summary>Breaks the target's lock and journals who broke whose. Null (nothing changed) without consent.</summary>
    public static async Task<RollbackLock?> BreakLockAsync(string targetKey, bool confirmed, EngineContext context)
    {
        var store = context.State.Store;
        var held = store.GetLocks().FirstOrDefault(l => l.TargetKey == targetKey)
            ?? throw new RollbackException(ErrorIds.LockNotHeld, RollbackErrorKind.ObjectNotFound,
                $"No lock on '{targetKey}' is held in the state store {store.Location}, so there is nothing to break. List the held locks with Get-RollbackLock.")
            { TargetName = targetKey };
        var action = $"Break the lock held by {held.HolderUser}@{held.HolderHost} (process {held.HolderProcessId}, run {held.RunId}) since {held.AcquiredAt.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC; that run's later journal records are refused";
        if (!confirmed && !await context.Observer.ShouldProcessAsync(targetKey, action).ConfigureAwait(false))
        {
            return null;
        }

        var broken = await store.BreakLockAsync(targetKey, context.Cancellation).ConfigureAwait(false)
            ?? throw new RollbackException(ErrorIds.LockNotHeld, RollbackErrorKind.ObjectNotFound,
                $"The lock on '{targetKey}' was released while this command ran; nothing was broken.")
            { TargetName = targetKey };
        var by = LockHolder.Current();
        store.Journal.AddEvent(new JournalEvent(targetKey, null, DateTimeOffset.UtcNow, JournalEventKinds.LockBroken,
            JsonSerializer.Serialize(new { BrokenBy = $"{by.User}@{by.Host}", Holder = broken }, Journal.JsonOptions)));
        context.Observer.Warning($"The lock on {targetKey} was broken. If its holder is still running it may have left the target half-changed: check Get-RollbackHistory -TargetKey '{targetKey}' before acting.");
        return broken;
    }

    /// <summary>
    /// Copies a local state folder's journal, snapshots, checkpoints, signals and reports into another store. Records
    /// the destination already has are left alone, so running it again copies only what is new.
    /// </summary>
    public static StateCopyResult Copy(StateRoot from, StateRoot to, IRollbackObserver observer)
    {
        var result = new StateCopyResult { From = from.StoreLocation, To = to.StoreLocation };
        var source = from.Journal;
        var destination = to.Journal;

        var attempts = source.GetAttempts(limit: int.MaxValue);
        var copiedAttempts = destination.GetAttempts(limit: int.MaxValue).Select(a => a.AttemptId).ToHashSet(StringComparer.Ordinal);
        foreach (var attempt in attempts.OrderBy(a => a.StartedAt))
        {
            if (copiedAttempts.Add(attempt.AttemptId))
            {
                destination.StartAttempt(attempt);
                destination.CompleteAttempt(attempt);
                result.Attempts++;
            }
        }

        var verified = source.GetVerified(limit: int.MaxValue);
        var copiedVerified = destination.GetVerified(limit: int.MaxValue).Select(VerifiedKey).ToHashSet(StringComparer.Ordinal);
        foreach (var version in verified.Reverse())
        {
            if (!copiedVerified.Add(VerifiedKey(version)))
            {
                continue;
            }

            var snapshot = version.Snapshot;
            if (snapshot is not null && Directory.Exists(snapshot))
            {
                snapshot = SharedArtefacts.Keep(to, snapshot);
            }
            else if (snapshot is not null)
            {
                observer.Warning($"The snapshot of {version.TargetKey} {version.Version} ({snapshot}) is missing; the version is copied as verified-good without it.");
                snapshot = null;
            }

            destination.RecordVerified(new VerifiedVersion
            {
                TargetKey = version.TargetKey, Strategy = version.Strategy, Version = version.Version, Commit = version.Commit,
                RecordedAt = version.RecordedAt, Evidence = version.Evidence, Snapshot = snapshot,
            });
            result.VerifiedVersions++;
        }

        foreach (var targetKey in attempts.Select(a => a.TargetKey).Concat(verified.Select(v => v.TargetKey)).Distinct(StringComparer.Ordinal))
        {
            var existing = destination.GetEvents(targetKey).Select(EventKey).ToHashSet(StringComparer.Ordinal);
            foreach (var journalEvent in source.GetEvents(targetKey).Where(e => existing.Add(EventKey(e))))
            {
                destination.AddEvent(journalEvent);
                result.Events++;
            }
        }

        result.Checkpoints = CopyCheckpoints(from, to, observer);
        result.Signals = CopyFiles(from.SignalsDirectory, "*.json", to, SharedArtefacts.Signals);
        result.Reports = CopyFiles(from.ReportsDirectory, "incident-*", to, SharedArtefacts.Reports);
        return result;
    }

    private static string VerifiedKey(VerifiedVersion v) => $"{v.TargetKey}\n{v.Version}\n{Journal.Stamp(v.RecordedAt)}";

    private static string EventKey(JournalEvent e) => $"{e.AttemptId}\n{Journal.Stamp(e.At)}\n{e.Kind}\n{e.Detail}";

    private static int CopyCheckpoints(StateRoot from, StateRoot to, IRollbackObserver observer)
    {
        if (!to.Store.HoldsArtefacts)
        {
            return 0;
        }

        var present = to.Store.ListArtefacts(SharedArtefacts.Checkpoints).ToHashSet(StringComparer.Ordinal);
        var copied = 0;
        foreach (var checkpoint in new CheckpointStore(from).List(observer: observer))
        {
            if (present.Contains(checkpoint.Name + ".tar.gz"))
            {
                continue;
            }

            var archive = SharedArtefacts.Pack(checkpoint.Folder);
            if (archive.Length > to.Store.CheckpointLimitBytes)
            {
                observer.Warning($"The checkpoint '{checkpoint.Name}' ({archive.Length / 1048576.0:0.0} MB compressed) is over the store's cap of {to.Store.CheckpointLimitBytes / 1048576.0:0.#} MB and stays only in {checkpoint.Folder}.");
                continue;
            }

            to.Store.PutArtefact(SharedArtefacts.Checkpoints, checkpoint.Name + ".manifest.json", File.ReadAllBytes(System.IO.Path.Combine(checkpoint.Folder, "manifest.json")));
            to.Store.PutArtefact(SharedArtefacts.Checkpoints, checkpoint.Name + ".tar.gz", archive);
            copied++;
        }

        return copied;
    }

    private static int CopyFiles(string folder, string pattern, StateRoot to, string kind)
    {
        if (!to.Store.HoldsArtefacts || !Directory.Exists(folder))
        {
            return 0;
        }

        var present = to.Store.ListArtefacts(kind).ToHashSet(StringComparer.Ordinal);
        var copied = 0;
        foreach (var file in Directory.EnumerateFiles(folder, pattern).Order(StringComparer.Ordinal))
        {
            var name = System.IO.Path.GetFileName(file);
            if (SharedArtefacts.IsPlainName(name) && !present.Contains(name) && new FileInfo(file).LinkTarget is null)
            {
                to.Store.PutArtefact(kind, name, File.ReadAllBytes(file));
                copied++;
            }
        }

        return copied;
    }
}
