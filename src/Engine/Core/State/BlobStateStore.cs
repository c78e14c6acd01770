using System.Text;
using System.Text.Json;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace DeploymentRollback.Engine;

/// <summary>
/// A shared store in an Azure Blob Storage container: one blob per journal record (so concurrent writers never
/// overwrite each other), artefacts as blobs, and target locks as blob leases that end by themselves when a holder
/// stops renewing them (a killed worker frees its target within the lease's TTL).
/// </summary>
public sealed class BlobStateStore : StateStore
{
    /// <summary>Blob leases last 15 to 60 s; the shortest frees a dead holder's target soonest.</summary>
    public static readonly TimeSpan LeaseTtl = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(5);
    private readonly BlobJournal journal;

    public BlobStateStore(BlobContainerClient container, string location, long checkpointLimitBytes)
    {
        Blobs = container;
        Location = location;
        CheckpointLimitBytes = checkpointLimitBytes;
        journal = new BlobJournal(this) { FenceOf = FenceOf };
    }

    internal BlobContainerClient Blobs { get; }
    public override string Kind => "AzureBlob";
    public override string Location { get; }
    public override Journal Journal => journal;
    public override bool HoldsArtefacts => true;
    public override long CheckpointLimitBytes { get; }

    private BlobClient LockBlob(string targetKey) => Blobs.GetBlobClient($"locks/{KeyName(targetKey)}.lock");

    protected override async Task<TargetLease?> TryAcquireAsync(string targetKey, LockHolder holder, CancellationToken cancellation)
    {
        journal.EnsureReady();
        var blob = LockBlob(targetKey);
        return await journal.GuardAsync(async () =>
        {
            try
            {
                await blob.UploadAsync(BinaryData.FromString(""), new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } }, cancellation).ConfigureAwait(false);
            }
            catch (RequestFailedException e) when (e.Status is 409 or 412)
            {
                // It exists: the usual case.
            }

            var lease = blob.GetBlobLeaseClient();
            try
            {
                await lease.AcquireAsync(LeaseTtl, cancellationToken: cancellation).ConfigureAwait(false);
            }
            catch (RequestFailedException e) when (e.Status == 409)
            {
                return (TargetLease?)null;
            }

            var properties = (await blob.GetPropertiesAsync(cancellationToken: cancellation).ConfigureAwait(false)).Value;
            var token = TokenOf(properties.Metadata) + 1;
            var now = Journal.Stamp(DateTimeOffset.UtcNow);
            await blob.SetMetadataAsync(new Dictionary<string, string>
            {
                ["token"] = token.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["target"] = Encode(targetKey),
                ["holder"] = Encode(holder.ToJson()),
                ["acquired"] = now,
                ["renewed"] = now,
            }, new BlobRequestConditions { LeaseId = lease.LeaseId }, cancellation).ConfigureAwait(false);
            return new BlobLease(targetKey, token, blob, lease, this);
        }).ConfigureAwait(false);
    }

    public override IReadOnlyList<RollbackLock> GetLocks()
    {
        journal.EnsureReady();
        return journal.Guard(() => Blobs.GetBlobs(BlobTraits.Metadata, BlobStates.None, "locks/", default)
            .Where(item => item.Properties.LeaseState == LeaseState.Leased && item.Metadata.ContainsKey("target"))
            .Select(item => Describe(item.Metadata)).ToList());
    }

    public override async Task<RollbackLock?> BreakLockAsync(string targetKey, CancellationToken cancellation)
    {
        journal.EnsureReady();
        var blob = LockBlob(targetKey);
        return await journal.GuardAsync(async () =>
        {
            BlobProperties properties;
            try
            {
                properties = (await blob.GetPropertiesAsync(cancellationToken: cancellation).ConfigureAwait(false)).Value;
            }
            catch (RequestFailedException e) when (e.Status == 404)
            {
                return null;
            }

            if (properties.LeaseState != LeaseState.Leased || !properties.Metadata.ContainsKey("target"))
            {
                return null;
            }

            await blob.GetBlobLeaseClient().BreakAsync(TimeSpan.Zero, cancellationToken: cancellation).ConfigureAwait(false);
            // A new token: whatever the old holder still tries to write is refused.
            var metadata = new Dictionary<string, string>(properties.Metadata)
            {
                ["token"] = (TokenOf(properties.Metadata) + 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            await blob.SetMetadataAsync(metadata, cancellationToken: cancellation).ConfigureAwait(false);
            return (RollbackLock?)Describe(properties.Metadata);
        }).ConfigureAwait(false);
    }

    /// <summary>Whether the token is still the target lock's (fencing): one read of the lock blob's metadata.</summary>
    internal bool FenceHolds(string targetKey, long token)
    {
        try
        {
            return TokenOf(LockBlob(targetKey).GetProperties().Value.Metadata) == token;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return false;
        }
    }

    public override void PutArtefact(string kind, string name, byte[] content)
    {
        journal.EnsureReady();
        journal.Guard(() => Blobs.GetBlobClient($"artefacts/{kind}/{name}").Upload(BinaryData.FromBytes(content), overwrite: true));
    }

    public override byte[]? GetArtefact(string kind, string name) => journal.Guard(() =>
    {
        journal.EnsureReady();
        try
        {
            return Blobs.GetBlobClient($"artefacts/{kind}/{name}").DownloadContent().Value.Content.ToArray();
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    });

    public override IReadOnlyList<string> ListArtefacts(string kind)
    {
        journal.EnsureReady();
        var prefix = $"artefacts/{kind}/";
        return journal.Guard(() => Blobs.GetBlobs(BlobTraits.None, BlobStates.None, prefix, default).Select(item => item.Name[prefix.Length..]).Order(StringComparer.Ordinal).ToList());
    }

    private RollbackLock Describe(IDictionary<string, string> metadata)
    {
        var holder = LockHolder.FromJson(metadata.TryGetValue("holder", out var h) ? Decode(h) : null);
        var renewed = metadata.TryGetValue("renewed", out var r) ? Journal.ParseStamp(r) : (DateTimeOffset?)null;
        return new RollbackLock
        {
            TargetKey = Decode(metadata["target"]), Store = Kind, FencingToken = TokenOf(metadata),
            HolderHost = holder?.Host, HolderProcessId = holder?.ProcessId, HolderUser = holder?.User, RunId = holder?.RunId,
            AcquiredAt = metadata.TryGetValue("acquired", out var a) ? Journal.ParseStamp(a) : default,
            RenewedAt = renewed, ExpiresAt = renewed + LeaseTtl,
        };
    }

    private static long TokenOf(IDictionary<string, string> metadata) =>
        metadata.TryGetValue("token", out var text) && long.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var token) ? token : 0;

    // Blob metadata is ASCII only; a target key may hold any character.
    private static string Encode(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string Decode(string text) => Encoding.UTF8.GetString(Convert.FromBase64String(text));

    private sealed class BlobLease : TargetLease
    {
        private readonly BlobClient blob;
        private readonly BlobLeaseClient lease;
        private readonly Timer renewal;

        public BlobLease(string targetKey, long token, BlobClient blob, BlobLeaseClient lease, BlobStateStore store)
            : base(targetKey, token, store.Released)
        {
            this.blob = blob;
            this.lease = lease;
            renewal = new Timer(_ => Renew(), null, RenewEvery, RenewEvery);
        }

        private void Renew()
        {
            try
            {
                lease.Renew();
                var metadata = new Dictionary<string, string>(blob.GetProperties().Value.Metadata) { ["renewed"] = Journal.Stamp(DateTimeOffset.UtcNow) };
                blob.SetMetadata(metadata, new BlobRequestConditions { LeaseId = lease.LeaseId });
            }
            catch (Exception e) when (e is RequestFailedException or AggregateException or HttpRequestException)
            {
                // A lease that cannot be renewed ends with its TTL; fencing then refuses this run's records.
            }
        }

        protected override async ValueTask ReleaseAsync()
        {
            await renewal.DisposeAsync().ConfigureAwait(false);
            try
            {
                await lease.ReleaseAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is RequestFailedException or AggregateException or HttpRequestException)
            {
                // Broken or expired already, or the store is gone: the lease ends by itself.
            }
        }
    }
}

/// <summary>The journal as blobs: journal/attempts|verified|events/&lt;target&gt;/&lt;record&gt;.json, one blob per record.</summary>
internal sealed class BlobJournal(BlobStateStore store) : Journal
{
    private const string LayoutBlob = "layout.json";
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> targetOfAttempt = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> downloaded = new(StringComparer.Ordinal);
    private bool ready;

    public override string Location => store.Location;

    private sealed record AttemptRecord(string TargetKey, string Outcome, DateTimeOffset StartedAt, string? Owner, long? FencingToken, string Result);

    internal void EnsureReady()
    {
        if (ready)
        {
            return;
        }

        Guard(() =>
        {
            // A container SAS may not create containers: create it only when it is missing.
            var layout = store.Blobs.GetBlobClient(LayoutBlob);
            int found;
            try
            {
                found = ReadLayout(layout);
            }
            catch (RequestFailedException e) when (e.Status == 404 && e.ErrorCode == "ContainerNotFound")
            {
                store.Blobs.CreateIfNotExists();
                found = ReadLayout(layout);
            }

            if (found > SchemaVersion)
            {
                throw TooNew(found);
            }

            if (found < SchemaVersion)
            {
                // Layouts 2 and 3 differ only in the token metadata of new records: nothing to convert.
                layout.Upload(BinaryData.FromString($"{{\"version\":{SchemaVersion}}}"), overwrite: true);
            }

            return 0;
        });
        ready = true;
    }

    /// <summary>The layout version a container holds; 0 for a new, empty one.</summary>
    private static int ReadLayout(BlobClient layout)
    {
        try
        {
            return JsonDocument.Parse(layout.DownloadContent().Value.Content.ToString()).RootElement.GetProperty("version").GetInt32();
        }
        catch (RequestFailedException e) when (e.Status == 404 && e.ErrorCode == "BlobNotFound")
        {
            return 0;
        }
    }

    public override void StartAttempt(RollbackResult attempt)
    {
        targetOfAttempt[attempt.AttemptId] = attempt.TargetKey;
        WriteAttempt(attempt, new AttemptRecord(attempt.TargetKey, "Running", attempt.StartedAt, null, FenceOf(attempt.TargetKey), JsonSerializer.Serialize(attempt, JsonOptions)));
    }

    public override void CompleteAttempt(RollbackResult attempt)
    {
        var existing = ReadRecord(attempt.TargetKey, attempt.AttemptId);
        WriteAttempt(attempt, new AttemptRecord(attempt.TargetKey, attempt.Outcome.ToString(), attempt.StartedAt, existing?.Owner, existing?.FencingToken ?? FenceOf(attempt.TargetKey), JsonSerializer.Serialize(attempt, JsonOptions)));
    }

    public override IReadOnlyList<RollbackResult> GetAttempts(string? targetKey = null, string? attemptId = null, DateTimeOffset? since = null, int limit = 1000) =>
        Attempts(targetKey)
            .Where(a => (attemptId is null || JsonDocument.Parse(a.Result).RootElement.GetProperty("AttemptId").GetString() == attemptId) && (since is null || a.StartedAt >= since))
            .OrderByDescending(a => a.StartedAt).Take(limit).Select(a => ReadAttempt(a.Result, a.Outcome)).ToList();

    public override void RecordVerified(VerifiedVersion verified) =>
        Append("verified", verified.TargetKey, verified.RecordedAt, JsonSerializer.Serialize(verified, JsonOptions));

    public override IReadOnlyList<VerifiedVersion> GetVerified(string? targetKey = null, int limit = 1000) =>
        Records("verified", targetKey).Select(json => JsonSerializer.Deserialize<VerifiedVersion>(json, JsonOptions)!)
            .Reverse().Take(limit).ToList();

    public override void AddEvent(JournalEvent journalEvent) =>
        Append("events", journalEvent.TargetKey, journalEvent.At, JsonSerializer.Serialize(journalEvent, JsonOptions));

    public override IReadOnlyList<JournalEvent> GetEvents(string targetKey, DateTimeOffset? since = null) =>
        Records("events", targetKey).Select(json => JsonSerializer.Deserialize<JournalEvent>(json, JsonOptions)!).Where(e => since is null || e.At >= since).ToList();

    public override IReadOnlyList<string> GetRolledBackFromVersions(string targetKey) =>
        Attempts(targetKey).Where(a => a.Outcome != "Skipped").Select(a => JsonSerializer.Deserialize<RollbackResult>(a.Result, JsonOptions)!)
            .Where(r => r.FromVersion is not null && (r.ToVersion is null || r.FromVersion != r.ToVersion)).Select(r => r.FromVersion!).Distinct().ToList();

    public override void SetAttemptOwner(string attemptId, string owner)
    {
        // Called right after StartAttempt, by the run that wrote it, so the attempt's target is known here.
        var found = targetOfAttempt.TryGetValue(attemptId, out var targetKey) ? ReadRecord(targetKey, attemptId) : null;
        if (found is not null)
        {
            var attempt = JsonSerializer.Deserialize<RollbackResult>(found.Result, JsonOptions)!;
            WriteAttempt(attempt, found with { Owner = owner });
        }
    }

    public override IReadOnlyList<(RollbackResult Attempt, string? Owner)> GetRunningAttempts(string targetKey) =>
        Attempts(targetKey).Where(a => a.Outcome == "Running").OrderBy(a => a.StartedAt)
            .Select(a => (JsonSerializer.Deserialize<RollbackResult>(a.Result, JsonOptions)!, a.Owner)).ToList();

    private void CheckFence(string targetKey)
    {
        if (FenceOf(targetKey) is { } token && !store.FenceHolds(targetKey, token))
        {
            throw LockLost(targetKey, token);
        }
    }

    private void WriteAttempt(RollbackResult attempt, AttemptRecord record) => Guard(() =>
    {
        EnsureReady();
        CheckFence(attempt.TargetKey);
        return store.Blobs.GetBlobClient($"journal/attempts/{StateStore.KeyName(attempt.TargetKey)}/{attempt.AttemptId}.json")
            .Upload(BinaryData.FromString(JsonSerializer.Serialize(record, JsonOptions)), overwrite: true);
    });

    private AttemptRecord? ReadRecord(string targetKey, string attemptId) => Guard(() =>
    {
        try
        {
            return JsonSerializer.Deserialize<AttemptRecord>(store.Blobs.GetBlobClient($"journal/attempts/{StateStore.KeyName(targetKey)}/{attemptId}.json").DownloadContent().Value.Content.ToString(), JsonOptions);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    });

    public override void PruneEvents(string targetKey, string kind, int keep) => Guard(() =>
    {
        EnsureReady();
        var names = store.Blobs.GetBlobs(BlobTraits.None, BlobStates.None, $"journal/events/{StateStore.KeyName(targetKey)}/", default)
            .Select(item => (item.Name, Key: item.Name + "|" + item.Properties.ETag))
            .OrderBy(item => item.Name[(item.Name.LastIndexOf('/') + 1)..], StringComparer.Ordinal).ToList();
        var ofKind = names.Where(item => JsonSerializer.Deserialize<JournalEvent>(
            downloaded.GetOrAdd(item.Key, _ => store.Blobs.GetBlobClient(item.Name).DownloadContent().Value.Content.ToString()), JsonOptions)!.Kind == kind).ToList();
        foreach (var (name, key) in ofKind.Take(Math.Max(0, ofKind.Count - keep)))
        {
            store.Blobs.GetBlobClient(name).DeleteIfExists();
            downloaded.TryRemove(key, out _);
        }

        return 0;
    });

    private List<AttemptRecord> Attempts(string? targetKey) =>
        Records("attempts", targetKey).Select(json => JsonSerializer.Deserialize<AttemptRecord>(json, JsonOptions)!).ToList();

    /// <summary>A new record: its name starts with its time, so name order is time order, and ends with a random part, so no two writers collide.</summary>
    private void Append(string kind, string targetKey, DateTimeOffset at, string json) => Guard(() =>
    {
        EnsureReady();
        CheckFence(targetKey);
        // The writer's fencing token goes with the record (as metadata), so every record of a run says which holder wrote it.
        var metadata = FenceOf(targetKey) is { } token ? new Dictionary<string, string> { ["token"] = token.ToString(System.Globalization.CultureInfo.InvariantCulture) } : null;
        return store.Blobs.GetBlobClient($"journal/{kind}/{StateStore.KeyName(targetKey)}/{Stamp(at)}-{Guid.NewGuid():N}.json")
            .Upload(BinaryData.FromString(json), new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All }, Metadata = metadata });
    });

    /// <summary>
    /// The kind's records of one target (or all), in name order. A run reads the same records many times (escalation,
    /// last good, reruns): each blob is downloaded once per version (its ETag) for the life of this command.
    /// </summary>
    private List<string> Records(string kind, string? targetKey) => Guard(() =>
    {
        EnsureReady();
        var prefix = targetKey is null ? $"journal/{kind}/" : $"journal/{kind}/{StateStore.KeyName(targetKey)}/";
        var items = store.Blobs.GetBlobs(BlobTraits.None, BlobStates.None, prefix, default)
            .OrderBy(item => item.Name[(item.Name.LastIndexOf('/') + 1)..], StringComparer.Ordinal).ToList();
        var contents = new string[items.Count];
        Parallel.For(0, items.Count, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
        {
            var key = items[i].Name + "|" + items[i].Properties.ETag;
            contents[i] = downloaded.GetOrAdd(key, _ => store.Blobs.GetBlobClient(items[i].Name).DownloadContent().Value.Content.ToString());
        });
        return contents.ToList();
    });

    /// <summary>The service or the way to it failed, or a request timed out (not this module's records).</summary>
    private static bool IsStoreFault(Exception e) => e is RequestFailedException or AggregateException or HttpRequestException or TaskCanceledException;

    internal async Task<T> GuardAsync<T>(Func<Task<T>> work)
    {
        try
        {
            return await work().ConfigureAwait(false);
        }
        catch (Exception e) when (IsStoreFault(e) && e is not OperationCanceledException { CancellationToken.IsCancellationRequested: true })
        {
            throw Fault(e);
        }
    }

    internal T Guard<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch (Exception e) when (IsStoreFault(e))
        {
            throw Fault(e);
        }
        catch (Exception e) when (e is JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
        {
            throw new RollbackException(ErrorIds.JournalCorrupt, RollbackErrorKind.InvalidOperation,
                $"The journal in {Location} holds a record this module cannot read ({e.Message}). Check whether another program writes to the container.", e);
        }
    }

    private RollbackException Fault(Exception e) => e switch
    {
        RequestFailedException { Status: 401 or 403 } r => new RollbackException(ErrorIds.StateStoreDenied, RollbackErrorKind.PermissionDenied,
            $"The state store {Location} refused access ({r.Status} {r.ErrorCode}). Check the account key, SAS or identity (the managed identity needs the 'Storage Blob Data Contributor' role on the container).", e),
        RequestFailedException { Status: > 0 } r => new RollbackException(ErrorIds.StateFileUnusable, RollbackErrorKind.WriteError,
            $"The state store {Location} could not be used ({r.Status} {r.ErrorCode}). Check the storage account's health, then run the command again.", e),
        _ => new RollbackException(ErrorIds.StateStoreUnreachable, RollbackErrorKind.ConnectionError,
            $"The state store {Location} cannot be reached ({SecretRedactor.Redact(e.Message)}). Check the address and this machine's network, then run the command again; the target is as the journal last recorded it (Get-RollbackHistory).", e),
    };
}
