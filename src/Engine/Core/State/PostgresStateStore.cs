using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Data.Common;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace DeploymentRollback.Engine;

/// <summary>
/// A shared store in PostgreSQL: the journal's tables plus artefacts, and target locks as session advisory locks,
/// which the server releases when a holder's connection drops (a killed worker never wedges a target). Each lock's
/// connection sends TCP keepalives, so a holder whose machine vanished is noticed too.
/// </summary>
public sealed class PostgresStateStore : StateStore
{
    private static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(5);

    /// <summary>
    /// One data source (a connection pool) per connection string for the process, not per store: a new server session
    /// costs some 20 ms (connect, fork a backend, start up), three of them per command before. A command's first
    /// connection is checked before use and the pool emptied on any store fault (PostgresJournal), so sessions a
    /// restarted server dropped are not handed out. Different credentials make different strings, so different pools.
    /// </summary>
    private static readonly ConcurrentDictionary<string, NpgsqlDataSource> Sources = new();

    private readonly NpgsqlDataSource pooled;
    private readonly PostgresJournal journal;

    public PostgresStateStore(NpgsqlConnectionStringBuilder settings, long checkpointLimitBytes)
    {
        settings.ApplicationName ??= "DeploymentRollback";
        settings.Timeout = settings.Timeout == 15 ? 10 : settings.Timeout;
        Location = $"postgresql://{(settings.Username is null ? "" : settings.Username + "@")}{settings.Host}:{settings.Port}/{settings.Database}";
        // Keepalives, so the server notices a lock holder whose machine vanished (not only one whose process died).
        settings.KeepAlive = 10;
        settings.TcpKeepAlive = true;
        pooled = Sources.GetOrAdd(settings.ConnectionString, static connectionString =>
        {
            var builder = new NpgsqlDataSourceBuilder(connectionString);
            // The journal uses built-in types only (text, bigint, integer, boolean, bytea): no read of the type catalog.
            builder.ConfigureTypeLoading(types => types.EnableTypeLoading(false));
            return builder.Build();
        });
        journal = new PostgresJournal(pooled, Location) { FenceOf = FenceOf };
        CheckpointLimitBytes = checkpointLimitBytes;
    }

    public override string Kind => "PostgreSQL";
    public override string Location { get; }
    public override Journal Journal => journal;
    public override bool HoldsArtefacts => true;
    public override long CheckpointLimitBytes { get; }

    protected override async Task<TargetLease?> TryAcquireAsync(string targetKey, LockHolder holder, CancellationToken cancellation)
    {
        journal.EnsureReady();
        // A lock lives as long as the session that took it: this connection is kept for the whole run. (A pooled one
        // is reset with DISCARD ALL when it goes back to the pool, which also ends any advisory lock it still holds.)
        var connection = await journal.GuardAsync(() => pooled.OpenConnectionAsync(cancellation).AsTask()).ConfigureAwait(false);
        try
        {
            bool taken;
            await using (var command = new NpgsqlCommand("SELECT pg_try_advisory_lock(@key)", connection))
            {
                command.Parameters.AddWithValue("key", AdvisoryKey(targetKey));
                taken = (bool)(await journal.GuardAsync(() => command.ExecuteScalarAsync(cancellation)).ConfigureAwait(false))!;
            }

            if (!taken)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                return null;
            }

            // On the lock's own connection: another would be a new server session (some 20 ms), the pool's only one being this.
            var token = journal.TakeLockRow(targetKey, holder, connection.ProcessID, connection);
            return new AdvisoryLease(targetKey, token, connection, this);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public override IReadOnlyList<RollbackLock> GetLocks()
    {
        var live = journal.AdvisoryHolders();
        return journal.OpenLockRows(Kind).Where(row => row.Session is { } session && live.Contains((session, AdvisoryKey(row.Lock.TargetKey)))).Select(row => row.Lock).ToList();
    }

    public override Task<RollbackLock?> BreakLockAsync(string targetKey, CancellationToken cancellation)
    {
        var live = journal.AdvisoryHolders();
        var row = journal.OpenLockRows(Kind, targetKey).FirstOrDefault(r => r.Session is { } session && live.Contains((session, AdvisoryKey(targetKey))));
        if (row.Lock is null)
        {
            return Task.FromResult<RollbackLock?>(null);
        }

        // Ending the holder's session frees its advisory lock; the new token refuses whatever it still tries to write.
        journal.SupersedeLockRow(targetKey);
        journal.TerminateSession(row.Session!.Value);
        return Task.FromResult<RollbackLock?>(row.Lock);
    }

    public override void PutArtefact(string kind, string name, byte[] content) => journal.PutArtefact(kind, name, content);

    public override byte[]? GetArtefact(string kind, string name) => journal.GetArtefact(kind, name);

    public override IReadOnlyList<string> ListArtefacts(string kind) => journal.ListArtefacts(kind);

    // The data source is the process's (Sources): its idle sessions serve the next command.
    public override void Dispose() => base.Dispose();

    /// <summary>The advisory lock key of a target: 64 bits of its SHA-256, so any key fits one lock.</summary>
    internal static long AdvisoryKey(string targetKey) =>
        BinaryPrimitives.ReadInt64BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes("deployment-rollback:" + targetKey)));

    private sealed class AdvisoryLease : TargetLease
    {
        private readonly NpgsqlConnection connection;
        private readonly PostgresStateStore store;
        private readonly Timer renewal;

        public AdvisoryLease(string targetKey, long token, NpgsqlConnection connection, PostgresStateStore store)
            : base(targetKey, token, store.Released)
        {
            this.connection = connection;
            this.store = store;
            // The server holds the lock as long as the session; renewing only tells Get-RollbackLock the holder is alive.
            renewal = new Timer(_ => Renew(), null, RenewEvery, RenewEvery);
        }

        private void Renew()
        {
            try
            {
                store.journal.RenewLockRow(TargetKey, Token);
            }
            catch (RollbackException)
            {
                // A missed renewal changes nothing: the session still holds the lock, and fencing guards the records.
            }
        }

        protected override async ValueTask ReleaseAsync()
        {
            await renewal.DisposeAsync().ConfigureAwait(false);
            try
            {
                store.journal.ReleaseLockRow(TargetKey, Token);
            }
            catch (RollbackException)
            {
                // Closing the session below frees the lock all the same.
            }

            try
            {
                await using var unlock = new NpgsqlCommand("SELECT pg_advisory_unlock(@key)", connection);
                unlock.Parameters.AddWithValue("key", AdvisoryKey(TargetKey));
                await unlock.ExecuteScalarAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                // A broken session (the server ended it, or the lock was broken) holds nothing any more.
            }

            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>The journal's tables in PostgreSQL, plus the artefact table shared stores need.</summary>
internal sealed class PostgresJournal(NpgsqlDataSource source, string location) : SqlJournal
{
    // One schema change at a time when many workers meet an empty database together.
    private const long SchemaLockKey = 0x4452_5354_4154_4531;

    public override string Location => location;

    internal void EnsureReady() => Guard(() =>
    {
        using var connection = Open();
        return 0;
    });

    private bool checkedSession;

    /// <summary>
    /// The pool outlives commands, so a command's first session may be one the server has since dropped (a restart, a
    /// failover, an idle timeout): it is checked with one round trip, and when dead the pool is emptied and a new one opened.
    /// </summary>
    protected override DbConnection Connect()
    {
        var connection = source.OpenConnection();
        if (Volatile.Read(ref checkedSession))
        {
            return connection;
        }

        try
        {
            using var ping = new NpgsqlCommand("SELECT 1", connection);
            ping.ExecuteScalar();
        }
        catch (Exception e) when (IsStoreFault(e))
        {
            connection.Dispose();
            source.Clear();
            connection = source.OpenConnection();
        }

        Volatile.Write(ref checkedSession, true);
        return connection;
    }

    protected override bool HasTable(DbConnection connection, string table)
    {
        using var command = Prepare(connection, "SELECT to_regclass(@name) IS NOT NULL", [("@name", table)]);
        return (bool)command.ExecuteScalar()!;
    }

    protected override void CreateOrUpgrade(DbConnection connection, int foundVersion)
    {
        using var transaction = connection.BeginTransaction();
        Run(connection, $"SELECT pg_advisory_xact_lock({SchemaLockKey});" + Tables("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY") +
            "CREATE TABLE IF NOT EXISTS artefacts(kind TEXT NOT NULL, name TEXT NOT NULL, content BYTEA NOT NULL, stored_at TEXT NOT NULL, PRIMARY KEY(kind, name));" +
            // Layout 2 lacked the fencing token on verified versions and events.
            "ALTER TABLE verified ADD COLUMN IF NOT EXISTS fencing_token BIGINT; ALTER TABLE events ADD COLUMN IF NOT EXISTS fencing_token BIGINT;");
        transaction.Commit();
    }

    internal void PutArtefact(string kind, string name, byte[] content) =>
        Execute("INSERT INTO artefacts(kind, name, content, stored_at) VALUES (@kind, @name, @content, @at) ON CONFLICT (kind, name) DO UPDATE SET content = excluded.content, stored_at = excluded.stored_at",
            ("@kind", kind), ("@name", name), ("@content", content), ("@at", Stamp(DateTimeOffset.UtcNow)));

    internal byte[]? GetArtefact(string kind, string name) =>
        Query("SELECT content FROM artefacts WHERE kind = @kind AND name = @name", reader => (byte[])reader.GetValue(0), ("@kind", kind), ("@name", name)).FirstOrDefault();

    internal IReadOnlyList<string> ListArtefacts(string kind) =>
        Query("SELECT name FROM artefacts WHERE kind = @kind ORDER BY name", reader => reader.GetString(0), ("@kind", kind));

    /// <summary>(session, key) of every advisory lock granted now.</summary>
    internal HashSet<(long Session, long Key)> AdvisoryHolders() =>
        Query("SELECT pid, (classid::bigint << 32) | objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1",
            reader => ((long)reader.GetInt32(0), reader.GetInt64(1))).ToHashSet();

    internal void TerminateSession(long session) =>
        Query("SELECT pg_terminate_backend(CAST(@pid AS INTEGER))", reader => reader.GetValue(0), ("@pid", session));

    /// <summary>The server or the way to it failed (not this module's records).</summary>
    private static bool IsStoreFault(Exception e) => e is NpgsqlException or SocketException or TimeoutException;

    internal async Task<T> GuardAsync<T>(Func<Task<T>> work)
    {
        try
        {
            return await work().ConfigureAwait(false);
        }
        catch (Exception e) when (IsStoreFault(e))
        {
            source.Clear();
            throw Fault(e);
        }
    }

    protected override T Guard<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch (Exception e) when (IsStoreFault(e))
        {
            source.Clear();
            throw Fault(e);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidCastException)
        {
            throw new RollbackException(ErrorIds.JournalCorrupt, RollbackErrorKind.InvalidOperation,
                $"The journal in {Location} holds a record this module cannot read ({e.Message}). Check whether another program writes to its tables.", e);
        }
    }

    private RollbackException Fault(Exception e) => e switch
    {
        PostgresException { SqlState: "28P01" or "28000" or "42501" } pg => new RollbackException(ErrorIds.StateStoreDenied, RollbackErrorKind.PermissionDenied,
            $"The state store {Location} refused this user ({pg.SqlState}: {pg.MessageText}). Check the user name and password (-StateStoreCredential or PGPASSWORD) and that the user may create and write tables in that database.", e),
        PostgresException pg => new RollbackException(ErrorIds.StateFileUnusable, RollbackErrorKind.WriteError,
            $"The state store {Location} could not be used ({pg.SqlState}: {pg.MessageText}). Check the database's health and space, then run the command again.", e),
        _ => new RollbackException(ErrorIds.StateStoreUnreachable, RollbackErrorKind.ConnectionError,
            $"The state store {Location} cannot be reached ({SecretRedactor.Redact(e.Message)}). Check that the server runs and this machine may connect to it, then run the command again; the target is as the journal last recorded it (Get-RollbackHistory).", e),
    };
}
