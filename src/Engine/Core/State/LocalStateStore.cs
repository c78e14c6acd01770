using System.Text;

namespace DeploymentRollback.Engine;

/// <summary>
/// The default store: the state folder. The journal is a SQLite file; a target's lock is an exclusive handle on a
/// lock file (FileShare.None: an OS lock on Windows, an flock on Linux and macOS, released by the OS when the holder
/// dies), with its holder and fencing token in the journal's lock table.
/// </summary>
public sealed class LocalStateStore : StateStore
{
    private readonly string locksDirectory;
    private readonly SqliteJournal journal;

    public LocalStateStore(string journalPath, string locksDirectory)
    {
        this.locksDirectory = locksDirectory;
        journal = new SqliteJournal(journalPath) { FenceOf = FenceOf };
    }

    public override string Kind => "Local";
    public override string Location => System.IO.Path.GetDirectoryName(journal.Path)!;
    public override Journal Journal => journal;

    private string LockPath(string targetKey) => System.IO.Path.Combine(locksDirectory, KeyName(targetKey) + ".lock");

    protected override Task<TargetLease?> TryAcquireAsync(string targetKey, LockHolder holder, CancellationToken cancellation)
    {
        var path = LockPath(targetKey);
        FileStream? stream = null;
        try
        {
            // Unbuffered, so a failed write fails here and not again when the handle is closed.
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
            stream.SetLength(0);
            stream.Write(Encoding.UTF8.GetBytes(holder.ToJson()));
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            // A handle left open after a failed write would hold the lock until a garbage collection.
            stream?.Dispose();
            // Only a lock held by another handle is worth waiting for; a read-only folder or a full disk is reported at once.
            return StateFaults.IsLockHeldByAnother(e) ? Task.FromResult<TargetLease?>(null) : throw StateFaults.ForFile(path, "take the rollback lock in", e);
        }

        try
        {
            var token = journal.TakeLockRow(targetKey, holder, Environment.ProcessId);
            return Task.FromResult<TargetLease?>(new FileLease(targetKey, token, stream, this));
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    public override void Dispose()
    {
        journal.ReleaseConnections();
        base.Dispose();
    }

    public override IReadOnlyList<RollbackLock> GetLocks() =>
        journal.OpenLockRows(Kind).Select(row => row.Lock).Where(l => IsHeld(LockPath(l.TargetKey))).ToList();

    public override Task<RollbackLock?> BreakLockAsync(string targetKey, CancellationToken cancellation)
    {
        var held = journal.OpenLockRows(Kind, targetKey).Select(row => row.Lock).FirstOrDefault(l => IsHeld(LockPath(l.TargetKey)));
        if (held is null)
        {
            return Task.FromResult<RollbackLock?>(null);
        }

        journal.SupersedeLockRow(targetKey);
        try
        {
            // On Linux and macOS the holder keeps its flock on the removed file; the next run locks a new one.
            File.Delete(LockPath(targetKey));
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            throw new RollbackException(ErrorIds.LockNotHeld, RollbackErrorKind.ResourceBusy,
                $"The lock on '{targetKey}' is held by process {held.HolderProcessId} on {held.HolderHost}, and this system does not let its lock file be removed while that process has it open ({e.Message}). Its journal records are refused from now on; stop that process to free the target.", e)
            { TargetName = targetKey };
        }

        return Task.FromResult<RollbackLock?>(held);
    }

    /// <summary>A lock file someone holds cannot be opened exclusively; one nobody holds (its holder died) can.</summary>
    private static bool IsHeld(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None, bufferSize: 0);
            return false;
        }
        catch (Exception e) when (StateFaults.IsFileFault(e))
        {
            return StateFaults.IsLockHeldByAnother(e);
        }
    }

    private sealed class FileLease(string targetKey, long token, FileStream handle, LocalStateStore store) : TargetLease(targetKey, token, store.Released)
    {
        protected override ValueTask ReleaseAsync()
        {
            try
            {
                store.journal.ReleaseLockRow(TargetKey, Token);
            }
            catch (RollbackException)
            {
                // The lock is released with the handle below all the same; the row only describes it.
            }

            handle.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
