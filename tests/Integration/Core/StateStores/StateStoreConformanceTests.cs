using DeploymentRollback.Engine;
using DeploymentRollback.Tests.Integration.Database;
using Npgsql;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core.StateStores;

/// <summary>One real PostgreSQL cluster and one Azurite for the whole suite; each test gets its own database or container.</summary>
public sealed class SharedStoreServers : IDisposable
{
    private readonly Lazy<PostgresCluster> postgres = new(() => new PostgresCluster());
    private readonly Lazy<AzuriteServer> azurite = new(() => new AzuriteServer());

    public PostgresCluster Postgres => postgres.Value;
    public AzuriteServer Azurite => azurite.Value;

    public void Dispose()
    {
        if (postgres.IsValueCreated)
        {
            postgres.Value.Dispose();
        }

        if (azurite.IsValueCreated)
        {
            azurite.Value.Dispose();
        }
    }
}

/// <summary>
/// One store under test: every client is a command of its own (own local folder, own connections), as workers on
/// different machines are. The local store's clients share its folder, which is what "local" means.
/// </summary>
public sealed class StoreUnderTest : IDisposable
{
    private readonly TempDirectory temp = new();
    private readonly List<StateRoot> clients = new();
    private int next;

    public StoreUnderTest(string kind, SharedStoreServers servers)
    {
        Kind = kind;
        var name = "t" + Guid.NewGuid().ToString("N")[..12];
        switch (kind)
        {
            case "PostgreSQL":
                Psql.CreateDatabase(servers.Postgres.Port, name);
                Address = $"postgresql://postgres@127.0.0.1:{servers.Postgres.Port}/{name}";
                break;
            case "AzureBlob":
                Address = servers.Azurite.ConnectionString(name);
                break;
        }
    }

    public string Kind { get; }
    public string? Address { get; }

    public StateRoot Client()
    {
        var folder = Address is null ? temp.Combine("state") : temp.Combine("worker" + Interlocked.Increment(ref next));
        var client = StateRoot.Open(folder, Address is null ? null : StateStoreAddress.Parse(Address, null));
        lock (clients)
        {
            clients.Add(client);
        }

        return client;
    }

    public void Dispose()
    {
        foreach (var client in clients)
        {
            client.Dispose();
        }

        NpgsqlConnection.ClearAllPools();
        temp.Dispose();
    }
}

/// <summary>
/// The contract every state store keeps (the idea of Terraform's backend conformance tests), run against the local
/// folder, a real PostgreSQL and Azurite: records round-trip between clients, one lock holder at a time, fencing,
/// force-unlock, escalation and verified-good versions seen by any client, concurrent writers losing nothing, and a
/// store written by a newer version refused.
/// </summary>
public sealed class StateStoreConformanceTests(SharedStoreServers servers) : IClassFixture<SharedStoreServers>
{
    public static TheoryData<string> Stores => new() { "Local", "PostgreSQL", "AzureBlob" };

    private static RollbackResult Attempt(string targetKey, RollbackOutcome outcome, string from = "v2", string to = "v1") => new()
    {
        AttemptId = Guid.NewGuid().ToString("N")[..12], Strategy = "Git", TargetKey = targetKey, Path = "/srv/app", Outcome = outcome,
        FromVersion = from, ToVersion = to, AttemptNumber = 1, StartedAt = DateTimeOffset.UtcNow, CompletedAt = DateTimeOffset.UtcNow, Message = "test attempt",
    };

    [RequiresTheory(Component.Postgres, Component.Azurite)]
    [MemberData(nameof(Stores))]
    public void RecordsWrittenByOneClientAreReadByAnother(string kind)
    {
        using var store = new StoreUnderTest(kind, servers);
        var writer = store.Client();
        var attempt = Attempt("git:/srv/app", RollbackOutcome.Failed);
        writer.Journal.StartAttempt(attempt);
        writer.Journal.SetAttemptOwner(attempt.AttemptId, "123|host|stamp");
        attempt.Outcome = RollbackOutcome.Succeeded;
        writer.Journal.CompleteAttempt(attempt);
        var running = Attempt("git:/srv/app", RollbackOutcome.Failed, "v3", "v2");
        running.StartedAt = attempt.StartedAt.AddSeconds(1);
        writer.Journal.StartAttempt(running);
        writer.Journal.SetAttemptOwner(running.AttemptId, "456|elsewhere|stamp");
        writer.Journal.RecordVerified(new VerifiedVersion { TargetKey = "git:/srv/app", Strategy = "Git", Version = "v1", RecordedAt = DateTimeOffset.UtcNow, Evidence = "1/1" });
        writer.Journal.AddEvent(new JournalEvent("git:/srv/app", attempt.AttemptId, DateTimeOffset.UtcNow, JournalEventKinds.HealthChecked, "{\"ok\":true}"));

        var reader = store.Client().Journal;
        var attempts = reader.GetAttempts("git:/srv/app");
        Assert.Equal(new[] { running.AttemptId, attempt.AttemptId }, attempts.Select(a => a.AttemptId));
        Assert.Equal(RollbackOutcome.Succeeded, attempts[1].Outcome);
        Assert.Equal(RollbackOutcome.Failed, attempts[0].Outcome);
        Assert.Equal(attempt.AttemptId, Assert.Single(reader.GetAttempts(attemptId: attempt.AttemptId)).AttemptId);
        Assert.Equal("456|elsewhere|stamp", Assert.Single(reader.GetRunningAttempts("git:/srv/app")).Owner);
        Assert.Equal(new[] { "v3", "v2" }.Order(), reader.GetRolledBackFromVersions("git:/srv/app").Order());
        Assert.Equal("v1", Assert.Single(reader.GetVerified("git:/srv/app")).Version);
        Assert.Equal(JournalEventKinds.HealthChecked, Assert.Single(reader.GetEvents("git:/srv/app")).Kind);
        Assert.Empty(reader.GetAttempts("git:/srv/other"));
    }

    [RequiresTheory(Component.Postgres, Component.Azurite)]
    [MemberData(nameof(Stores))]
    public async Task ExactlyOneOfTwoClientsHoldsTheLockAndTheOtherGetsItOnRelease(string kind)
    {
        using var store = new StoreUnderTest(kind, servers);
        var first = store.Client();
        var second = store.Client();
        var observer = new RecordingObserver();
        var contenders = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => Task.Run(async () =>
        {
            try
            {
                return (object)await (i == 0 ? first : second).Store.AcquireLockAsync("k8s:shop/web", TimeSpan.Zero, observer, default);
            }
            catch (RollbackException e)
            {
                return e;
            }
        })));
        var winner = Assert.Single(contenders.OfType<TargetLease>());
        var loser = Assert.Single(contenders.OfType<RollbackException>());
        Assert.Equal(ErrorIds.RollbackLockTimeout, loser.ErrorId);
        var waiting = (winner == contenders[0] ? second : first).Store.AcquireLockAsync("k8s:shop/web", TimeSpan.FromSeconds(20), observer, default);
        await Task.Delay(500);
        Assert.False(waiting.IsCompleted);
        var token = winner.Token;
        await winner.DisposeAsync();
        await using var next = await waiting;
        Assert.True(next.Token > token, $"token {next.Token} after {token}");
    }

    [RequiresTheory(Component.Postgres, Component.Azurite)]
    [MemberData(nameof(Stores))]
    public async Task GetLocksNamesTheHolderAndABrokenLockFencesIt(string kind)
    {
        using var store = new StoreUnderTest(kind, servers);
        var holder = store.Client();
        var admin = store.Client();
        var lease = await holder.Store.AcquireLockAsync("compose:shop", TimeSpan.Zero, new RecordingObserver(), default, runId: "run-1");
        holder.Journal.AddEvent(new JournalEvent("compose:shop", null, DateTimeOffset.UtcNow, "Fenced", "written while holding"));

        var held = Assert.Single(admin.Store.GetLocks());
        Assert.Equal(("compose:shop", Environment.MachineName, Environment.ProcessId, "run-1", lease.Token),
            (held.TargetKey, held.HolderHost, held.HolderProcessId, held.RunId, held.FencingToken));

        Assert.Equal(new[] { lease.Token }, FencingTokensOfEvents(store, holder, "compose:shop"));
        var busy = await Assert.ThrowsAsync<RollbackException>(() => admin.Store.AcquireLockAsync("compose:shop", TimeSpan.Zero, new RecordingObserver(), default));
        Assert.Contains($"held by {Environment.UserName}@{Environment.MachineName} (process {Environment.ProcessId}, run run-1)", busy.Message);
        var broken = await StateAdmin.BreakLockAsync("compose:shop", confirmed: true, new EngineContext(admin, new RecordingObserver(), default));
        Assert.Equal("run-1", broken!.RunId);
        Assert.Empty(admin.Store.GetLocks());
        var refused = Assert.Throws<RollbackException>(() => holder.Journal.AddEvent(new JournalEvent("compose:shop", null, DateTimeOffset.UtcNow, "Fenced", "written after the break")));
        Assert.Equal(ErrorIds.RollbackLockLost, refused.ErrorId);
        var events = admin.Journal.GetEvents("compose:shop");
        Assert.Equal(new[] { "written while holding" }, events.Where(e => e.Kind == "Fenced").Select(e => e.Detail));
        Assert.Contains(events, e => e.Kind == JournalEventKinds.LockBroken && e.Detail.Contains("run-1"));

        await using var taken = await admin.Store.AcquireLockAsync("compose:shop", TimeSpan.FromSeconds(5), new RecordingObserver(), default);
        Assert.True(taken.Token > lease.Token);
        await lease.DisposeAsync();
        Assert.Equal(taken.Token, Assert.Single(admin.Store.GetLocks()).FencingToken);
        var nothing = await Assert.ThrowsAsync<RollbackException>(() => StateAdmin.BreakLockAsync("compose:none", true, new EngineContext(admin, new RecordingObserver(), default)));
        Assert.Equal(ErrorIds.LockNotHeld, nothing.ErrorId);
    }

    /// <summary>The fencing tokens stored with the target's event records, read from the store itself.</summary>
    private long[] FencingTokensOfEvents(StoreUnderTest store, StateRoot client, string targetKey)
    {
        switch (store.Kind)
        {
            case "Local":
                using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(client.Directory, "journal.db")};Pooling=False"))
                {
                    connection.Open();
                    using var command = connection.CreateCommand();
                    command.CommandText = $"SELECT fencing_token FROM events WHERE target_key = '{targetKey}' AND fencing_token IS NOT NULL";
                    using var reader = command.ExecuteReader();
                    var tokens = new List<long>();
                    while (reader.Read())
                    {
                        tokens.Add(reader.GetInt64(0));
                    }

                    return tokens.ToArray();
                }

            case "PostgreSQL":
                return Psql.Query(servers.Postgres.Port, store.Address!.Split('/')[^1], $"SELECT fencing_token FROM events WHERE target_key = '{targetKey}' AND fencing_token IS NOT NULL")
                    .Select(long.Parse).ToArray();
            default:
                return new Azure.Storage.Blobs.BlobContainerClient(servers.Azurite.ConnectionString("x").Replace(";Container=x", ""), store.Address!.Split("Container=")[1])
                    .GetBlobs(Azure.Storage.Blobs.Models.BlobTraits.Metadata, Azure.Storage.Blobs.Models.BlobStates.None, $"journal/events/{StateStore.KeyName(targetKey)}/", default)
                    .Where(b => b.Metadata.ContainsKey("token")).Select(b => long.Parse(b.Metadata["token"])).ToArray();
        }
    }

    [RequiresTheory(Component.Postgres, Component.Azurite)]
    [MemberData(nameof(Stores))]
    public void FailuresRecordedByOneClientCountTowardsEscalationInAnother(string kind)
    {
        using var store = new StoreUnderTest(kind, servers);
        var first = store.Client();
        first.Journal.StartAttempt(Attempt("container:web", RollbackOutcome.Failed));
        foreach (var outcome in new[] { RollbackOutcome.Failed, RollbackOutcome.Failed })
        {
            var attempt = Attempt("container:web", outcome);
            first.Journal.StartAttempt(attempt);
            first.Journal.CompleteAttempt(attempt);
        }

        var failures = EscalationPolicy.FailuresInWindow(store.Client().Journal, "container:web", TimeSpan.FromHours(1), DateTimeOffset.UtcNow);
        Assert.Equal(3, failures.Count);
        Assert.True(EscalationPolicy.Escalates(failures.Count, 3));
    }

    [RequiresTheory(Component.Postgres, Component.Azurite)]
    [MemberData(nameof(Stores))]
    public async Task SnapshotsSignalsCheckpointsAndReportsOfOneClientReachAnother(string kind)
    {
        using var store = new StoreUnderTest(kind, servers);
        var writer = store.Client();
        var snapshot = Path.Combine(writer.SnapshotsDirectory, "snap" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(snapshot, "nested"));
        File.WriteAllText(Path.Combine(snapshot, "nested", "app.yml"), "replicas: 3\n");
        writer.Journal.RecordVerified(new VerifiedVersion
        {
            TargetKey = "config:/etc/app.yml", Strategy = "Config", Version = "sha256:abc", RecordedAt = DateTimeOffset.UtcNow, Evidence = "1/1",
            Snapshot = SharedArtefacts.Keep(writer, snapshot),
        });
        await new SignalStore(writer).EmitAsync(SignalNames.DeploymentFailed, new Dictionary<string, object?> { ["reason"] = "5xx" }, "config:/etc/app.yml", null, new RecordingObserver(), default);
        await new CheckpointStore(writer).CreateAsync("before-incident", "Config", "config:/etc/app.yml", "/etc/app.yml", w =>
        {
            w.AddText("app.yml", "replicas: 1\n");
            return Task.FromResult(new VersionIdentity("sha256:def", null));
        });

        var reader = store.Client();
        var verified = Assert.Single(reader.Journal.GetVerified("config:/etc/app.yml"));
        Assert.Equal("replicas: 3\n", File.ReadAllText(Path.Combine(reader.SnapshotFolder(verified)!, "nested", "app.yml")));
        Assert.StartsWith(reader.Directory, reader.SnapshotFolder(verified));
        var signal = Assert.Single(new SignalStore(reader).Read(new[] { SignalNames.DeploymentFailed }));
        Assert.Equal("config:/etc/app.yml", signal.Subject);
        var checkpoint = Assert.Single(new CheckpointStore(reader).List("config:/etc/app.yml"));
        Assert.Equal("before-incident", checkpoint.Name);
        Assert.Equal("replicas: 1\n", File.ReadAllText(Path.Combine(checkpoint.Folder, "app.yml")));
        var taken = Assert.Throws<RollbackException>(() => new CheckpointStore(store.Client()).NewName("before-incident"));
        Assert.Equal(ErrorIds.CheckpointExists, taken.ErrorId);
    }

    [RequiresTheory(Component.Postgres, Component.Azurite)]
    [MemberData(nameof(Stores))]
    public async Task EightConcurrentWritersLoseNoRecord(string kind)
    {
        using var store = new StoreUnderTest(kind, servers);
        var writers = Enumerable.Range(0, 8).Select(_ => store.Client()).ToList();
        await Task.WhenAll(writers.Select((client, w) => Task.Run(() =>
        {
            for (var i = 0; i < 25; i++)
            {
                var attempt = Attempt($"git:/srv/app{w}", RollbackOutcome.Failed);
                client.Journal.StartAttempt(attempt);
                attempt.Outcome = RollbackOutcome.Succeeded;
                client.Journal.CompleteAttempt(attempt);
                client.Journal.AddEvent(new JournalEvent("git:/srv/shared", attempt.AttemptId, DateTimeOffset.UtcNow, "Written", $"{w}/{i}"));
            }
        })));

        var reader = store.Client().Journal;
        Assert.Equal(200, reader.GetAttempts().Count(a => a.Outcome == RollbackOutcome.Succeeded));
        Assert.Equal(200, reader.GetEvents("git:/srv/shared").Select(e => e.Detail).Distinct().Count());
    }

    [RequiresTheory(Component.Postgres, Component.Azurite)]
    [MemberData(nameof(Stores))]
    public void AStoreWrittenByANewerVersionIsRefused(string kind)
    {
        using var store = new StoreUnderTest(kind, servers);
        var first = store.Client();
        first.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Written", "by this version"));
        switch (kind)
        {
            case "Local":
                using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(first.Directory, "journal.db")};Pooling=False"))
                {
                    connection.Open();
                    using var command = connection.CreateCommand();
                    command.CommandText = "UPDATE meta SET value = '99' WHERE key = 'schema_version'";
                    Assert.Equal(1, command.ExecuteNonQuery());
                }

                break;
            case "PostgreSQL":
                Psql.Query(servers.Postgres.Port, store.Address!.Split('/')[^1], "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
                break;
            case "AzureBlob":
                new Azure.Storage.Blobs.BlobContainerClient(servers.Azurite.ConnectionString("x").Replace(";Container=x", ""), store.Address!.Split("Container=")[1])
                    .GetBlobClient("layout.json").Upload(BinaryData.FromString("{\"version\":99}"), overwrite: true);
                break;
        }

        var error = Assert.Throws<RollbackException>(() => store.Client().Journal.GetAttempts());
        Assert.Equal(ErrorIds.StateStoreTooNew, error.ErrorId);
        Assert.Contains("layout 99", error.Message);
    }
}
