using System.Diagnostics;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using DeploymentRollback.Engine;
using DeploymentRollback.Tests.Integration.Database;
using Microsoft.Data.Sqlite;
using Npgsql;
using Xunit;

namespace DeploymentRollback.Tests.Integration.Core.StateStores;

/// <summary>Shared stores under faults: the server going away mid-run, a lock holder that stops renewing, old layouts.</summary>
public sealed class StateStoreFaultTests
{
    [RequiresFact(Component.Postgres)]
    public async Task APostgresStoreThatGoesAwayMidRunFailsWithStateStoreUnreachable()
    {
        using var temp = new TempDirectory();
        var cluster = new PostgresCluster();
        try
        {
            using var state = StateRoot.Open(temp.Path, StateStoreAddress.Parse($"postgresql://postgres:pg-secret-pw@127.0.0.1:{cluster.Port}/postgres", null));
            var lease = await state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.Zero, new RecordingObserver(), default);
            state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Written", "before"));
            cluster.Dispose();

            var error = Assert.Throws<RollbackException>(() => state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Written", "after")));
            Assert.Equal(ErrorIds.StateStoreUnreachable, error.ErrorId);
            Assert.Contains($"postgresql://postgres@127.0.0.1:{cluster.Port}/postgres", error.Message);
            Assert.DoesNotContain("pg-secret-pw", error.Message);
            var watch = Stopwatch.StartNew();
            var busy = await Assert.ThrowsAsync<RollbackException>(() => StateRoot.Open(temp.Combine("other"), StateStoreAddress.Parse($"postgresql://postgres@127.0.0.1:{cluster.Port}/postgres", null))
                .Store.AcquireLockAsync("git:/srv/app", TimeSpan.FromSeconds(30), new RecordingObserver(), default));
            Assert.Equal(ErrorIds.StateStoreUnreachable, busy.ErrorId);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"an unreachable store should fail at once, not after the lock timeout ({watch.Elapsed})");
            await lease.DisposeAsync();
        }
        finally
        {
            cluster.Dispose();
            NpgsqlConnection.ClearAllPools();
        }
    }

    [RequiresFact(Component.Postgres)]
    public async Task ACommandAfterTheServerDroppedThePooledSessionsStartsOnANewOne()
    {
        using var temp = new TempDirectory();
        var cluster = new PostgresCluster();
        try
        {
            var address = $"postgresql://postgres@127.0.0.1:{cluster.Port}/postgres";
            using (var first = StateRoot.Open(temp.Combine("first"), StateStoreAddress.Parse(address, null)))
            {
                await using var lease = await first.Store.AcquireLockAsync("git:/srv/app", TimeSpan.Zero, new RecordingObserver(), default);
                first.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Written", "first"));
            }

            // The sessions stay for the next command; a restart or failover drops them on the server's side.
            using (var admin = new NpgsqlConnection($"Host=127.0.0.1;Port={cluster.Port};Username=postgres;Database=postgres;Pooling=false"))
            {
                admin.Open();
                using var count = new NpgsqlCommand("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'DeploymentRollback'", admin);
                Assert.True((long)count.ExecuteScalar()! > 0, "the first command's sessions should be kept for the next one");
                using var drop = new NpgsqlCommand("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'DeploymentRollback'", admin);
                drop.ExecuteScalar();
            }

            using var second = StateRoot.Open(temp.Combine("second"), StateStoreAddress.Parse(address, null));
            second.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Written", "second"));
            Assert.Equal(["first", "second"], second.Journal.GetEvents("git:/srv/app").Select(e => e.Detail));
            await using var again = await second.Store.AcquireLockAsync("git:/srv/app", TimeSpan.Zero, new RecordingObserver(), default);
        }
        finally
        {
            cluster.Dispose();
        }
    }

    [RequiresFact(Component.Azurite)]
    public async Task ABlobStoreThatGoesAwayMidRunFailsWithStateStoreUnreachable()
    {
        using var temp = new TempDirectory();
        using var azurite = new AzuriteServer();
        using var state = StateRoot.Open(temp.Path, StateStoreAddress.Parse(azurite.ConnectionString("state"), null));
        var lease = await state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.Zero, new RecordingObserver(), default);
        state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Written", "before"));
        azurite.Kill();

        var watch = Stopwatch.StartNew();
        var error = Assert.Throws<RollbackException>(() => state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Written", "after")));
        Assert.Equal(ErrorIds.StateStoreUnreachable, error.ErrorId);
        Assert.DoesNotContain(AzuriteServer.AccountKey, error.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"an unreachable store should fail in seconds ({watch.Elapsed})");
        await lease.DisposeAsync();
    }

    /// <summary>
    /// The store goes away during a rollback (here: while the restart step runs, after the file was switched): the run
    /// ends with StateStoreUnreachable, not a raw exception, and the file is as the switch left it. The journal still
    /// holds the attempt as started, so the next run marks it Interrupted (as after a kill -9: SharedState.Tests.ps1).
    /// </summary>
    [RequiresFact(Component.Azurite)]
    public async Task AStoreThatGoesAwayDuringARollbackEndsItWithStateStoreUnreachable()
    {
        using var temp = new TempDirectory();
        var azurite = new AzuriteServer();
        try
        {
            var config = temp.Combine("app.yml");
            File.WriteAllText(config, "image: shop:v2\n");
            File.WriteAllText(temp.Combine("app.previous.yml"), "image: shop:v1\n");
            using var state = StateRoot.Open(temp.Combine("state"), StateStoreAddress.Parse(azurite.ConnectionString("state"), null));
            var request = new RollbackRequest
            {
                Deployment = new ConfigTarget { Path = config, PreviousPath = "app.previous.yml" },
                RestartScript = new ScriptAction("restart", _ =>
                {
                    azurite.Kill();
                    return Task.FromResult(new ScriptOutcome(true, "", 0));
                }),
            };

            var error = await Assert.ThrowsAsync<RollbackException>(() => RollbackEngine.InvokeAsync(request, new EngineContext(state, new RecordingObserver(), default)));
            Assert.Equal(ErrorIds.StateStoreUnreachable, error.ErrorId);
            Assert.Equal("image: shop:v1\n", File.ReadAllText(config));
        }
        finally
        {
            azurite.Dispose();
        }
    }

    /// <summary>A holder that stopped renewing (its process was killed) frees the target when its lease's TTL ends; one that renews keeps it.</summary>
    [RequiresFact(Component.Azurite)]
    public async Task ABlobLeaseOutlivesItsTtlWhileRenewedAndEndsWithinItWhenItsHolderStops()
    {
        using var temp = new TempDirectory();
        using var azurite = new AzuriteServer();
        var address = StateStoreAddress.Parse(azurite.ConnectionString("state"), null);
        using var holder = StateRoot.Open(temp.Combine("a"), address);
        using var waiter = StateRoot.Open(temp.Combine("b"), address);

        await using (var renewed = await holder.Store.AcquireLockAsync("k8s:shop/web", TimeSpan.Zero, new RecordingObserver(), default))
        {
            await Task.Delay(BlobStateStore.LeaseTtl + TimeSpan.FromSeconds(3));
            var refused = await Assert.ThrowsAsync<RollbackException>(() => waiter.Store.AcquireLockAsync("k8s:shop/web", TimeSpan.Zero, new RecordingObserver(), default));
            Assert.Equal(ErrorIds.RollbackLockTimeout, refused.ErrorId);
        }

        // A dead holder: a lease taken on the lock blob and never renewed.
        var blob = new BlobContainerClient(azurite.ConnectionString("x").Replace(";Container=x", ""), "state").GetBlobClient($"locks/{StateStore.KeyName("k8s:shop/web")}.lock");
        await blob.GetBlobLeaseClient().AcquireAsync(BlobStateStore.LeaseTtl);
        var watch = Stopwatch.StartNew();
        await using var taken = await waiter.Store.AcquireLockAsync("k8s:shop/web", TimeSpan.FromSeconds(60), new RecordingObserver(), default);
        Assert.InRange(watch.Elapsed, TimeSpan.FromSeconds(5), BlobStateStore.LeaseTtl + TimeSpan.FromSeconds(2));
    }

    [RequiresFact(Component.Postgres)]
    public async Task APostgresLockIsFreedWhenItsHoldersSessionDrops()
    {
        using var temp = new TempDirectory();
        using var cluster = new PostgresCluster();
        var url = $"postgresql://postgres@127.0.0.1:{cluster.Port}/postgres";
        using var waiter = StateRoot.Open(temp.Combine("b"), StateStoreAddress.Parse(url, null));
        waiter.Journal.GetAttempts();
        // A holder whose process dies: its session ends without unlocking (the server sees the socket close).
        var holder = new NpgsqlConnection($"Host=127.0.0.1;Port={cluster.Port};Username=postgres;Database=postgres;Pooling=false");
        holder.Open();
        using (var take = new NpgsqlCommand($"SELECT pg_advisory_lock({PostgresStateStore.AdvisoryKey("k8s:shop/web")})", holder))
        {
            take.ExecuteNonQuery();
        }

        var refused = await Assert.ThrowsAsync<RollbackException>(() => waiter.Store.AcquireLockAsync("k8s:shop/web", TimeSpan.Zero, new RecordingObserver(), default));
        Assert.Equal(ErrorIds.RollbackLockTimeout, refused.ErrorId);
        var waiting = waiter.Store.AcquireLockAsync("k8s:shop/web", TimeSpan.FromSeconds(30), new RecordingObserver(), default);
        var watch = Stopwatch.StartNew();
        holder.Dispose();
        await using var taken = await waiting;
        // Taken long before the 30 s wait would end: the server freed the lock when the session dropped. The bound is
        // loose on purpose, as a loaded machine can take a second or more to notice the closed socket and poll again.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10), $"hand-over took {watch.Elapsed}");
        NpgsqlConnection.ClearAllPools();
    }

    [Fact]
    public void AJournalOfTheFirstLayoutIsUpgradedInPlaceAndKeepsItsRecords()
    {
        using var temp = new TempDirectory();
        var path = temp.Combine("journal.db");
        using (var connection = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            // The tables as the first versions of the module made them.
            command.CommandText = """
                CREATE TABLE attempts(id TEXT PRIMARY KEY, target_key TEXT NOT NULL, strategy TEXT NOT NULL, started_at TEXT NOT NULL,
                    completed_at TEXT, outcome TEXT NOT NULL, attempt_number INTEGER NOT NULL, from_version TEXT, to_version TEXT, result_json TEXT NOT NULL);
                CREATE TABLE verified(id INTEGER PRIMARY KEY AUTOINCREMENT, target_key TEXT NOT NULL, strategy TEXT NOT NULL, version TEXT NOT NULL,
                    commit_id TEXT, recorded_at TEXT NOT NULL, evidence TEXT NOT NULL);
                CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, target_key TEXT NOT NULL, attempt_id TEXT, at TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
                INSERT INTO verified(target_key, strategy, version, recorded_at, evidence) VALUES ('git:/srv/app', 'Git', 'v1', '2026-01-01T00:00:00.0000000Z', '1/1');
                """;
            command.ExecuteNonQuery();
        }

        using var state = StateRoot.Open(temp.Path);
        Assert.Equal("v1", Assert.Single(state.Journal.GetVerified("git:/srv/app")).Version);
        state.Journal.RecordVerified(new VerifiedVersion { TargetKey = "git:/srv/app", Strategy = "Git", Version = "v2", RecordedAt = DateTimeOffset.UtcNow, Evidence = "1/1", Snapshot = temp.Path });
        Assert.Equal(temp.Path, state.Journal.GetVerified("git:/srv/app")[0].Snapshot);
        using var check = new SqliteConnection($"Data Source={path};Pooling=False");
        check.Open();
        using var version = check.CreateCommand();
        version.CommandText = "SELECT value FROM meta WHERE key = 'schema_version'";
        Assert.Equal(Journal.SchemaVersion.ToString(System.Globalization.CultureInfo.InvariantCulture), version.ExecuteScalar());
    }
}

/// <summary>Checkpoints over a shared store's cap, and checkpoints kept in a -CheckpointDirectory.</summary>
public sealed class SharedCheckpointTests(SharedStoreServers servers) : IClassFixture<SharedStoreServers>
{
    [RequiresTheory(Component.Postgres, Component.Azurite)]
    [InlineData("PostgreSQL")]
    [InlineData("AzureBlob")]
    public async Task ACheckpointOverTheCapIsRefusedAndOneInACheckpointDirectoryKeepsOnlyItsManifestInTheStore(string kind)
    {
        using var temp = new TempDirectory();
        var name = "t" + Guid.NewGuid().ToString("N")[..12];
        string address;
        if (kind == "PostgreSQL")
        {
            Psql.CreateDatabase(servers.Postgres.Port, name);
            address = $"postgresql://postgres@127.0.0.1:{servers.Postgres.Port}/{name}";
        }
        else
        {
            address = servers.Azurite.ConnectionString(name);
        }

        var capped = StateStoreAddress.Parse(address, null).WithCheckpointLimit(1024);
        using var writer = StateRoot.Open(temp.Combine("writer"), capped);
        var big = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8192));
        Task<VersionIdentity> Capture(CheckpointWriter w)
        {
            w.AddText("dump.txt", big);
            return Task.FromResult(new VersionIdentity("v2", null));
        }

        var refused = await Assert.ThrowsAsync<RollbackException>(() => new CheckpointStore(writer).CreateAsync("too-big", "Config", "config:/etc/app.yml", "/etc/app.yml", Capture));
        Assert.Equal(ErrorIds.CheckpointTooLarge, refused.ErrorId);
        Assert.Contains("cap of 0 MB", refused.Message.Replace("0.0 MB", "0 MB"));
        Assert.Contains("-CheckpointDirectory", refused.Message);
        Assert.False(Directory.Exists(Path.Combine(writer.CheckpointsDirectory, "too-big")));

        var elsewhere = temp.Combine("big-disk");
        var kept = await new CheckpointStore(writer, elsewhere).CreateAsync("kept-elsewhere", "Config", "config:/etc/app.yml", "/etc/app.yml", Capture);
        Assert.Equal(Path.Combine(elsewhere, "kept-elsewhere"), kept.Folder);
        Assert.Equal(big, File.ReadAllText(Path.Combine(kept.Folder, "dump.txt")));

        using var reader = StateRoot.Open(temp.Combine("reader"), StateStoreAddress.Parse(address, null));
        var listed = Assert.Single(new CheckpointStore(reader).List("config:/etc/app.yml"));
        Assert.Equal(("kept-elsewhere", kept.Folder), (listed.Name, listed.Folder));
        Assert.Equal(ErrorIds.CheckpointExists, Assert.Throws<RollbackException>(() => new CheckpointStore(reader).NewName("kept-elsewhere")).ErrorId);
    }
}

/// <summary>The ways to name a blob store and its credential, each against Azurite; the secret never shows.</summary>
public sealed class BlobStoreAddressTests
{
    [RequiresFact(Component.Azurite)]
    public async Task AContainerUrlWorksWithASasOrWithAnAccountKeyCredentialAndNeitherSecretShows()
    {
        using var temp = new TempDirectory();
        using var azurite = new AzuriteServer();
        var container = new BlobContainerClient(azurite.ConnectionString("x").Replace(";Container=x", ""), "state");
        await container.CreateIfNotExistsAsync();
        var sas = container.GenerateSasUri(Azure.Storage.Sas.BlobContainerSasPermissions.All, DateTimeOffset.UtcNow.AddHours(1));
        var signature = System.Web.HttpUtility.ParseQueryString(sas.Query)["sig"]!;

        var bySas = StateStoreAddress.Parse(sas.ToString(), null);
        Assert.Equal(azurite.ContainerUrl("state"), bySas.Location);
        using (var state = StateRoot.Open(temp.Combine("a"), bySas))
        {
            state.Journal.AddEvent(new JournalEvent("git:/srv/app", null, DateTimeOffset.UtcNow, "Written", "through a SAS"));
            await using var lease = await state.Store.AcquireLockAsync("git:/srv/app", TimeSpan.Zero, new RecordingObserver(), default);
            Assert.DoesNotContain(signature, state.StoreLocation);
        }

        var byKey = StateStoreAddress.Parse(azurite.ContainerUrl("state"), new System.Net.NetworkCredential(AzuriteServer.Account, AzuriteServer.AccountKey));
        using (var state = StateRoot.Open(temp.Combine("b"), byKey))
        {
            Assert.Equal("through a SAS", Assert.Single(state.Journal.GetEvents("git:/srv/app")).Detail);
        }

        var wrongKey = StateStoreAddress.Parse(azurite.ContainerUrl("state"), new System.Net.NetworkCredential(AzuriteServer.Account, Convert.ToBase64String(new byte[64])));
        using (var state = StateRoot.Open(temp.Combine("c"), wrongKey))
        {
            var denied = Assert.Throws<RollbackException>(() => state.Journal.GetEvents("git:/srv/app"));
            Assert.Equal(ErrorIds.StateStoreDenied, denied.ErrorId);
            Assert.DoesNotContain(AzuriteServer.AccountKey, denied.Message);
        }

        var invalid = Assert.Throws<RollbackException>(() => StateStoreAddress.Parse("mysql://db/state", null));
        Assert.Equal(ErrorIds.StateStoreInvalid, invalid.ErrorId);
    }
}
