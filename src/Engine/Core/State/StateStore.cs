using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>Who holds a lock: the machine, process, user and run, as Get-RollbackLock shows them.</summary>
public sealed record LockHolder(string Host, int ProcessId, string User, string RunId)
{
    public static LockHolder Current(string? runId = null) =>
        new(Environment.MachineName, Environment.ProcessId, Environment.UserName, runId ?? Guid.NewGuid().ToString("N")[..12]);

    public string ToJson() => JsonSerializer.Serialize(this, Journal.JsonOptions);

    public static LockHolder? FromJson(string? json)
    {
        try
        {
            return string.IsNullOrEmpty(json) ? null : JsonSerializer.Deserialize<LockHolder>(json, Journal.JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A held target lock. Disposing it releases the lock; its token fences the run's journal records.</summary>
public abstract class TargetLease : IAsyncDisposable, IDisposable
{
    private readonly Action<TargetLease> onRelease;
    private int released;

    protected TargetLease(string targetKey, long token, Action<TargetLease> onRelease)
    {
        TargetKey = targetKey;
        Token = token;
        this.onRelease = onRelease;
    }

    public string TargetKey { get; }
    public long Token { get; }

    protected abstract ValueTask ReleaseAsync();

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref released, 1) == 0)
        {
            onRelease(this);
            await ReleaseAsync().ConfigureAwait(false);
        }

        GC.SuppressFinalize(this);
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}

/// <summary>
/// Where the journal, locks, checkpoints, signals and reports live: the local folder (the default), PostgreSQL or Azure
/// Blob Storage. One instance per command: nothing here is static, so two jobs in one process never share a store.
/// Shared stores keep artefacts (snapshots, checkpoints, signals, reports) too; the local folder is then a cache of them.
/// </summary>
public abstract class StateStore : IDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);
    private readonly ConcurrentDictionary<string, long> fences = new(StringComparer.Ordinal);

    /// <summary>Local, PostgreSQL or AzureBlob.</summary>
    public abstract string Kind { get; }

    /// <summary>Where the store is, as an admin should read it: never with a password, key or SAS.</summary>
    public abstract string Location { get; }

    public abstract Journal Journal { get; }

    /// <summary>True for stores that hold artefacts themselves (PostgreSQL, blobs); the local store's artefacts are its files.</summary>
    public virtual bool HoldsArtefacts => false;

    /// <summary>Largest compressed checkpoint a shared store takes.</summary>
    public virtual long CheckpointLimitBytes => long.MaxValue;

    /// <summary>Takes the lock when free; null when another holder has it.</summary>
    protected abstract Task<TargetLease?> TryAcquireAsync(string targetKey, LockHolder holder, CancellationToken cancellation);

    /// <summary>The locks held now.</summary>
    public abstract IReadOnlyList<RollbackLock> GetLocks();

    /// <summary>Breaks a held lock: its holder's fencing token is superseded, so its later journal records are refused. Null when none was held.</summary>
    public abstract Task<RollbackLock?> BreakLockAsync(string targetKey, CancellationToken cancellation);

    public virtual void PutArtefact(string kind, string name, byte[] content)
    {
    }

    public virtual byte[]? GetArtefact(string kind, string name) => null;

    /// <summary>Names of the kind's artefacts in name order.</summary>
    public virtual IReadOnlyList<string> ListArtefacts(string kind) => [];

    public virtual void Dispose() => GC.SuppressFinalize(this);

    /// <summary>One rollback per target at a time, across processes and machines; waits up to the timeout with progress.</summary>
    public async Task<TargetLease> AcquireLockAsync(string targetKey, TimeSpan timeout, IRollbackObserver observer, CancellationToken cancellation, string? runId = null)
    {
        var holder = LockHolder.Current(runId);
        var started = DateTimeOffset.UtcNow;
        var activity = $"Waiting for another rollback of {targetKey} to finish";
        var waited = false;
        while (true)
        {
            cancellation.ThrowIfCancellationRequested();
            TargetLease? lease;
            try
            {
                lease = await TryAcquireAsync(targetKey, holder, cancellation).ConfigureAwait(false);
            }
            catch (RollbackException) when (waited)
            {
                observer.Progress(new ProgressUpdate(activity, "Failed", Completed: true));
                throw;
            }

            if (lease is not null)
            {
                fences[targetKey] = lease.Token;
                if (waited)
                {
                    observer.Progress(new ProgressUpdate(activity, "Acquired", Completed: true));
                }

                return lease;
            }

            var elapsed = DateTimeOffset.UtcNow - started;
            if (elapsed >= timeout)
            {
                if (waited)
                {
                    observer.Progress(new ProgressUpdate(activity, "Timed out", Completed: true));
                }

                var holderText = GetLocks().FirstOrDefault(l => l.TargetKey == targetKey) is { } held
                    ? $" It is held by {held.HolderUser}@{held.HolderHost} (process {held.HolderProcessId}, run {held.RunId}) since {held.AcquiredAt.ToUniversalTime():yyyy-MM-dd HH:mm:ss} UTC."
                    : "";
                throw new RollbackException(ErrorIds.RollbackLockTimeout, RollbackErrorKind.ResourceBusy,
                    $"Another rollback of '{targetKey}' has been running for longer than the lock timeout ({timeout.TotalSeconds:0} s).{holderText} Wait for it to finish (see Get-RollbackHistory and Get-RollbackLock), pass a longer -LockTimeoutSec, or, when its holder is gone, break the lock with Unlock-RollbackTarget.")
                { TargetName = targetKey };
            }

            waited = true;
            var remaining = timeout - elapsed;
            observer.Progress(new ProgressUpdate(activity, $"Lock held by another process; giving up in {remaining.TotalSeconds:0} s",
                (int)(100 * elapsed.TotalMilliseconds / Math.Max(1, timeout.TotalMilliseconds)), (int)remaining.TotalSeconds));
            await Task.Delay(PollInterval, cancellation).ConfigureAwait(false);
        }
    }

    /// <summary>The store's journal asks this for the token of a lock this command holds on the target.</summary>
    protected long? FenceOf(string targetKey) => fences.TryGetValue(targetKey, out var token) ? token : null;

    protected void Released(TargetLease lease) => fences.TryRemove(new KeyValuePair<string, long>(lease.TargetKey, lease.Token));

    /// <summary>A short, stable, file- and blob-name-safe name for a target key.</summary>
    public static string KeyName(string targetKey) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(targetKey)))[..16].ToLowerInvariant();
}
