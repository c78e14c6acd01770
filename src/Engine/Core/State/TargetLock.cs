using System.Security.Cryptography;
using System.Text;

namespace DeploymentRollback.Engine;

/// <summary>
/// One rollback per target at a time, across processes: an exclusive handle on a lock file
/// (FileShare.None is an OS-level lock on Windows and an flock on Linux and macOS).
/// </summary>
public sealed class TargetLock : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private readonly FileStream handle;

    private TargetLock(FileStream handle)
    {
        this.handle = handle;
    }

    public static async Task<TargetLock> AcquireAsync(StateRoot state, string targetKey, TimeSpan timeout, IRollbackObserver observer, CancellationToken cancellation)
    {
        var name = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(targetKey)))[..16].ToLowerInvariant();
        var path = System.IO.Path.Combine(state.LocksDirectory, name + ".lock");
        var started = DateTimeOffset.UtcNow;
        var activity = $"Waiting for another rollback of {targetKey} to finish";
        var waited = false;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            FileStream? stream = null;
            try
            {
                // Unbuffered, so a failed write fails here and not again when the handle is closed.
                stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 0);
                stream.SetLength(0);
                var owner = Encoding.UTF8.GetBytes($"{Environment.ProcessId} {DateTimeOffset.UtcNow:o} {targetKey}");
                stream.Write(owner);
                if (waited)
                {
                    observer.Progress(new ProgressUpdate(activity, "Acquired", Completed: true));
                }

                return new TargetLock(stream);
            }
            catch (Exception e) when (StateFaults.IsFileFault(e))
            {
                // A handle left open after a failed write would hold the lock until a garbage collection.
                stream?.Dispose();
                // Only a lock held by another handle is worth waiting for; a read-only folder or a full disk is reported at once.
                if (!StateFaults.IsLockHeldByAnother(e))
                {
                    if (waited)
                    {
                        observer.Progress(new ProgressUpdate(activity, "Failed", Completed: true));
                    }

                    throw StateFaults.ForFile(path, "take the rollback lock in", e);
                }

                var elapsed = DateTimeOffset.UtcNow - started;
                if (elapsed >= timeout)
                {
                    if (waited)
                    {
                        observer.Progress(new ProgressUpdate(activity, "Timed out", Completed: true));
                    }

                    throw new RollbackException(ErrorIds.RollbackLockTimeout, RollbackErrorKind.ResourceBusy,
                        $"Another rollback of '{targetKey}' has been running for longer than the lock timeout ({timeout.TotalSeconds:0} s). Wait for it to finish (see Get-RollbackHistory), or pass a longer -LockTimeoutSec.")
                    { TargetName = targetKey };
                }

                waited = true;
                var remaining = timeout - elapsed;
                observer.Progress(new ProgressUpdate(activity, $"Lock held by another process; giving up in {remaining.TotalSeconds:0} s",
                    (int)(100 * elapsed.TotalMilliseconds / Math.Max(1, timeout.TotalMilliseconds)), (int)remaining.TotalSeconds));
                await Task.Delay(PollInterval, cancellation).ConfigureAwait(false);
            }
        }
    }

    public void Dispose() => handle.Dispose();
}
