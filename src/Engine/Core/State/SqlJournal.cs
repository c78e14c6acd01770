using System.Data.Common;
using System.Globalization;
using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>
/// The journal in SQL tables, shared by the local SQLite file and PostgreSQL: the same tables, statements and
/// fencing; each store supplies its connection, its table definitions and the mapping of its errors.
/// </summary>
public abstract class SqlJournal : Journal
{
    private readonly object initialisation = new();
    private bool initialised;

    /// <summary>Opens a connection (tables not yet ensured).</summary>
    protected abstract DbConnection Connect();

    /// <summary>Creates the tables of <see cref="Journal.SchemaVersion"/> where missing and upgrades older ones in place.</summary>
    protected abstract void CreateOrUpgrade(DbConnection connection, int foundVersion);

    /// <summary>Every access goes through here, so that no driver, I/O or parse error reaches the user raw.</summary>
    protected abstract T Guard<T>(Func<T> work);

    /// <summary>Called before the first connection (the local store refuses a journal file that is a pipe or a folder).</summary>
    protected virtual void BeforeFirstOpen()
    {
    }

    public override void StartAttempt(RollbackResult attempt) => Fenced(attempt.TargetKey,
        "INSERT INTO attempts(id, target_key, strategy, started_at, outcome, attempt_number, from_version, to_version, result_json, fencing_token) SELECT @id, @target, @strategy, @started, 'Running', @number, CAST(@from AS TEXT), CAST(@to AS TEXT), @json, CAST(@token AS BIGINT) WHERE " + FenceHolds,
        ("@id", attempt.AttemptId), ("@strategy", attempt.Strategy), ("@started", Stamp(attempt.StartedAt)),
        ("@number", (long)attempt.AttemptNumber), ("@from", attempt.FromVersion), ("@to", attempt.ToVersion), ("@json", JsonSerializer.Serialize(attempt, JsonOptions)));

    public override void CompleteAttempt(RollbackResult attempt) => Fenced(attempt.TargetKey,
        "UPDATE attempts SET completed_at = @completed, outcome = @outcome, from_version = CAST(@from AS TEXT), to_version = CAST(@to AS TEXT), result_json = @json WHERE id = @id AND " + FenceHolds,
        ("@id", attempt.AttemptId), ("@completed", Stamp(attempt.CompletedAt)), ("@outcome", attempt.Outcome.ToString()),
        ("@from", attempt.FromVersion), ("@to", attempt.ToVersion), ("@json", JsonSerializer.Serialize(attempt, JsonOptions)));

    public override IReadOnlyList<RollbackResult> GetAttempts(string? targetKey = null, string? attemptId = null, DateTimeOffset? since = null, int limit = 1000)
    {
        var (where, parameters) = Filter(("target_key", "=", targetKey), ("id", "=", attemptId), ("started_at", ">=", since is null ? null : Stamp(since.Value)));
        return Query($"SELECT result_json, outcome FROM attempts{where} ORDER BY started_at DESC LIMIT @limit",
            reader => ReadAttempt(reader.GetString(0), reader.GetString(1)), [.. parameters, ("@limit", (long)limit)]);
    }

    public override void RecordVerified(VerifiedVersion verified) => Fenced(verified.TargetKey,
        "INSERT INTO verified(target_key, strategy, version, commit_id, recorded_at, evidence, snapshot, fencing_token) SELECT @target, @strategy, @version, CAST(@commit AS TEXT), @at, @evidence, CAST(@snapshot AS TEXT), CAST(@token AS BIGINT) WHERE " + FenceHolds,
        ("@strategy", verified.Strategy), ("@version", verified.Version), ("@commit", verified.Commit),
        ("@at", Stamp(verified.RecordedAt)), ("@evidence", verified.Evidence), ("@snapshot", verified.Snapshot));

    public override IReadOnlyList<VerifiedVersion> GetVerified(string? targetKey = null, int limit = 1000)
    {
        var (where, parameters) = Filter(("target_key", "=", targetKey));
        return Query($"SELECT target_key, strategy, version, commit_id, recorded_at, evidence, snapshot FROM verified{where} ORDER BY recorded_at DESC, id DESC LIMIT @limit",
            reader => new VerifiedVersion
            {
                TargetKey = reader.GetString(0),
                Strategy = reader.GetString(1),
                Version = reader.GetString(2),
                Commit = reader.IsDBNull(3) ? null : reader.GetString(3),
                RecordedAt = ParseStamp(reader.GetString(4)),
                Evidence = reader.GetString(5),
                Snapshot = reader.IsDBNull(6) ? null : reader.GetString(6),
            }, [.. parameters, ("@limit", (long)limit)]);
    }

    public override void AddEvent(JournalEvent journalEvent) => Fenced(journalEvent.TargetKey,
        "INSERT INTO events(target_key, attempt_id, at, kind, detail, fencing_token) SELECT @target, CAST(@attempt AS TEXT), @at, @kind, @detail, CAST(@token AS BIGINT) WHERE " + FenceHolds,
        ("@attempt", journalEvent.AttemptId), ("@at", Stamp(journalEvent.At)), ("@kind", journalEvent.Kind), ("@detail", journalEvent.Detail));

    public override IReadOnlyList<JournalEvent> GetEvents(string targetKey, DateTimeOffset? since = null) =>
        Query("SELECT target_key, attempt_id, at, kind, detail FROM events WHERE target_key = @target AND (CAST(@since AS TEXT) IS NULL OR at >= @since) ORDER BY at, id",
            reader => new JournalEvent(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), ParseStamp(reader.GetString(2)), reader.GetString(3), reader.GetString(4)),
            ("@target", targetKey), ("@since", since is null ? null : Stamp(since.Value)));

    public override void PruneEvents(string targetKey, string kind, int keep) =>
        Execute("DELETE FROM events WHERE target_key = @target AND kind = @kind AND id NOT IN (SELECT id FROM events WHERE target_key = @target AND kind = @kind ORDER BY at DESC, id DESC LIMIT @keep)",
            ("@target", targetKey), ("@kind", kind), ("@keep", keep));

    public override IReadOnlyList<string> GetRolledBackFromVersions(string targetKey) =>
        Query("SELECT DISTINCT from_version FROM attempts WHERE target_key = @target AND outcome <> 'Skipped' AND from_version IS NOT NULL AND (to_version IS NULL OR from_version <> to_version)",
            reader => reader.GetString(0), ("@target", targetKey));

    public override void SetAttemptOwner(string attemptId, string owner) =>
        Execute("UPDATE attempts SET owner = @owner WHERE id = @id", ("@id", attemptId), ("@owner", owner));

    public override IReadOnlyList<(RollbackResult Attempt, string? Owner)> GetRunningAttempts(string targetKey) =>
        Query("SELECT result_json, owner FROM attempts WHERE target_key = @target AND outcome = 'Running' ORDER BY started_at",
            reader => (JsonSerializer.Deserialize<RollbackResult>(reader.GetString(0), JsonOptions)!, reader.IsDBNull(1) ? null : reader.GetString(1)),
            ("@target", targetKey));

    /// <summary>
    /// Records a new holder of the target's lock and returns its fencing token, one higher than the last. on: a connection
    /// of the caller's to write it on (left open), else one of the lock rows' own.
    /// </summary>
    internal long TakeLockRow(string targetKey, LockHolder holder, long? sessionId, DbConnection? on = null) => Guard(() =>
    {
        using var owned = on is null ? OpenForLockRow() : null;
        var connection = on ?? owned!;
        using var command = Prepare(connection,
            "INSERT INTO locks(target_key, token, holder, acquired_at, renewed_at, released_at, session_id) VALUES (@target, 1, @holder, @now, @now, NULL, CAST(@session AS BIGINT)) " +
            "ON CONFLICT (target_key) DO UPDATE SET token = locks.token + 1, holder = excluded.holder, acquired_at = excluded.acquired_at, renewed_at = excluded.renewed_at, released_at = NULL, session_id = excluded.session_id RETURNING token",
            [("@target", targetKey), ("@holder", holder.ToJson()), ("@now", Stamp(DateTimeOffset.UtcNow)), ("@session", sessionId)]);
        return Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture);
    });

    internal void RenewLockRow(string targetKey, long token) =>
        ExecuteOnLockRow("UPDATE locks SET renewed_at = @now WHERE target_key = @target AND token = @token", ("@target", targetKey), ("@token", token), ("@now", Stamp(DateTimeOffset.UtcNow)));

    internal void ReleaseLockRow(string targetKey, long token) =>
        ExecuteOnLockRow("UPDATE locks SET released_at = @now WHERE target_key = @target AND token = @token", ("@target", targetKey), ("@token", token), ("@now", Stamp(DateTimeOffset.UtcNow)));

    /// <summary>Supersedes the target's token (its holder's later records are refused) and marks the lock released.</summary>
    internal void SupersedeLockRow(string targetKey) =>
        Execute("UPDATE locks SET token = token + 1, released_at = @now WHERE target_key = @target", ("@target", targetKey), ("@now", Stamp(DateTimeOffset.UtcNow)));

    /// <summary>Lock rows not marked released, optionally of one target, with the session that took them.</summary>
    internal List<(RollbackLock Lock, long? Session)> OpenLockRows(string store, string? targetKey = null) =>
        Query("SELECT target_key, token, holder, acquired_at, renewed_at, session_id FROM locks WHERE released_at IS NULL AND (CAST(@target AS TEXT) IS NULL OR target_key = @target) ORDER BY acquired_at",
            reader =>
            {
                var holder = LockHolder.FromJson(reader.GetString(2));
                return (new RollbackLock
                {
                    TargetKey = reader.GetString(0), Store = store, FencingToken = reader.GetInt64(1),
                    HolderHost = holder?.Host, HolderProcessId = holder?.ProcessId, HolderUser = holder?.User, RunId = holder?.RunId,
                    AcquiredAt = ParseStamp(reader.GetString(3)), RenewedAt = ParseStamp(reader.GetString(4)),
                }, reader.IsDBNull(5) ? (long?)null : reader.GetInt64(5));
            }, ("@target", targetKey));

    /// <summary>
    /// The write goes through only when the caller holds no lock on the target or its token is still the lock's; the
    /// token is stored with the record (fencing_token), so every record of a run says which holder wrote it.
    /// </summary>
    private const string FenceHolds = "(CAST(@token AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM locks WHERE locks.target_key = @target AND locks.token = @token))";

    private void Fenced(string targetKey, string sql, params (string Name, object? Value)[] parameters)
    {
        var token = FenceOf(targetKey);
        var written = Execute(sql, [.. parameters, ("@target", targetKey), ("@token", token)]);
        if (written == 0 && token is not null)
        {
            throw LockLost(targetKey, token.Value);
        }
    }

    /// <summary>The table definitions every SQL store shares (text times in round-trip UTC, so text order is time order).</summary>
    protected static string Tables(string serialKey) => $"""
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS attempts(
            id TEXT PRIMARY KEY, target_key TEXT NOT NULL, strategy TEXT NOT NULL, started_at TEXT NOT NULL,
            completed_at TEXT, outcome TEXT NOT NULL, attempt_number INTEGER NOT NULL,
            from_version TEXT, to_version TEXT, result_json TEXT NOT NULL, owner TEXT, fencing_token BIGINT);
        CREATE INDEX IF NOT EXISTS attempts_by_target ON attempts(target_key, started_at);
        CREATE TABLE IF NOT EXISTS verified(
            id {serialKey}, target_key TEXT NOT NULL, strategy TEXT NOT NULL, version TEXT NOT NULL,
            commit_id TEXT, recorded_at TEXT NOT NULL, evidence TEXT NOT NULL, snapshot TEXT, fencing_token BIGINT);
        CREATE INDEX IF NOT EXISTS verified_by_target ON verified(target_key, recorded_at);
        CREATE TABLE IF NOT EXISTS events(
            id {serialKey}, target_key TEXT NOT NULL, attempt_id TEXT, at TEXT NOT NULL,
            kind TEXT NOT NULL, detail TEXT NOT NULL, fencing_token BIGINT);
        CREATE INDEX IF NOT EXISTS events_by_target ON events(target_key, at);
        CREATE TABLE IF NOT EXISTS locks(
            target_key TEXT PRIMARY KEY, token BIGINT NOT NULL, holder TEXT NOT NULL, acquired_at TEXT NOT NULL,
            renewed_at TEXT NOT NULL, released_at TEXT, session_id BIGINT);
        """;

    /// <summary>Reads the layout version, refuses a newer one and brings an older one up to date.</summary>
    protected void EnsureSchema(DbConnection connection)
    {
        var found = HasTable(connection, "meta") ? ReadVersion(connection) : HasTable(connection, "attempts") ? 1 : 0;
        if (found > SchemaVersion)
        {
            throw TooNew(found);
        }

        if (found < SchemaVersion)
        {
            CreateOrUpgrade(connection, found);
            Run(connection, "INSERT INTO meta(key, value) VALUES ('schema_version', @v) ON CONFLICT (key) DO UPDATE SET value = @v", ("@v", SchemaVersion.ToString(CultureInfo.InvariantCulture)));
        }
    }

    protected abstract bool HasTable(DbConnection connection, string table);

    private static int ReadVersion(DbConnection connection)
    {
        using var command = Prepare(connection, "SELECT value FROM meta WHERE key = 'schema_version'", []);
        return command.ExecuteScalar() is string text && int.TryParse(text, CultureInfo.InvariantCulture, out var version) ? version : 1;
    }

    protected DbConnection Open() => OpenWith(Connect);

    private DbConnection OpenWith(Func<DbConnection> connect)
    {
        if (Volatile.Read(ref initialised))
        {
            return connect();
        }

        // The first open checks the layout once, even when two reads start together (an assessment overlaps them).
        lock (initialisation)
        {
            if (initialised)
            {
                return connect();
            }

            BeforeFirstOpen();
            var connection = connect();
            try
            {
                EnsureSchema(connection);
            }
            catch
            {
                connection.Dispose();
                throw;
            }

            Volatile.Write(ref initialised, true);
            return connection;
        }
    }

    protected int Execute(string sql, params (string Name, object? Value)[] parameters) => Guard(() =>
    {
        using var connection = Open();
        using var command = Prepare(connection, sql, parameters);
        return command.ExecuteNonQuery();
    });

    /// <summary>
    /// The WHERE clause and parameters of the conditions whose value is given (a parameter per column, named after it).
    /// A condition written "@x IS NULL OR column = @x" keeps the planner from using the column's index: it reads and
    /// sorts the whole table, every attempt's JSON included.
    /// </summary>
    private static (string Where, (string Name, object? Value)[] Parameters) Filter(params (string Column, string Operator, object? Value)[] conditions)
    {
        // Loops, not LINQ: LINQ over these tuples is compiled at run time in every fresh process (DESIGN-NOTES, Start-up).
        var where = new System.Text.StringBuilder();
        var parameters = new (string Name, object? Value)[conditions.Length];
        var given = 0;
        foreach (var (column, op, value) in conditions)
        {
            if (value is not null)
            {
                where.Append(given == 0 ? " WHERE " : " AND ").Append(column).Append(' ').Append(op).Append(" @").Append(column);
                parameters[given++] = ("@" + column, value);
            }
        }

        return (where.ToString(), parameters[..given]);
    }

    protected List<T> Query<T>(string sql, Func<DbDataReader, T> map, params (string Name, object? Value)[] parameters) => Guard(() =>
    {
        using var connection = Open();
        using var command = Prepare(connection, sql, parameters);
        using var reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read())
        {
            rows.Add(map(reader));
        }

        return rows;
    });

    /// <summary>
    /// A connection for writing lock rows. A store may commit them without waiting for the disk when its lock rows only
    /// describe a lock that something else enforces.
    /// </summary>
    protected virtual DbConnection ConnectForLockRow() => Connect();

    private DbConnection OpenForLockRow() => OpenWith(ConnectForLockRow);

    private void ExecuteOnLockRow(string sql, params (string Name, object? Value)[] parameters) => Guard(() =>
    {
        using var connection = OpenForLockRow();
        return Run(connection, sql, parameters);
    });

    protected static int Run(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using var command = Prepare(connection, sql, parameters);
        return command.ExecuteNonQuery();
    }

    protected static DbCommand Prepare(DbConnection connection, string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            command.Parameters.Add(parameter);
        }

        return command;
    }
}
