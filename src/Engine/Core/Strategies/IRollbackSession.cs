namespace DeploymentRollback.Engine;

/// <summary>A target's stable name in the journal (e.g. git:/srv/app) and where it lives (e.g. /srv/app).</summary>
public sealed record TargetIdentity(string Key, string Location);

/// <summary>What a strategy knows of a target's versions; the engine adds failure type, signals and recommendation.</summary>
public sealed class StrategyAssessment
{
    public string? CurrentVersion { get; init; }
    /// <summary>What pins the current version exactly (a commit, an image id, a template hash, a migration head).</summary>
    public string? CurrentIdentity { get; init; }
    public string? LastGoodVersion { get; init; }
    public string? LastGoodSource { get; init; }
    public IReadOnlyList<string> Changes { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> AffectedComponents { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> Errors { get; init; } = Array.Empty<string>();
    public bool HasUncommittedChanges { get; init; }
    public string Rationale { get; init; } = "";
    public IReadOnlyList<string> LogExcerpts { get; init; } = Array.Empty<string>();
    /// <summary>The failure type the target's own state shows (e.g. an unhealthy container), if any.</summary>
    public FailureType FailureType { get; init; }
    /// <summary>Strategy-specific state worth showing (container state, exit code, restart count...).</summary>
    public IReadOnlyDictionary<string, string> Facts { get; init; } = new Dictionary<string, string>();
}

/// <summary>A version as a strategy names it, and what pins it exactly (a commit, an image id, a template hash, a migration head).</summary>
public readonly record struct VersionIdentity(string? Version, string? Identity)
{
    public static implicit operator VersionIdentity((string? Version, string? Identity) pair) => new(pair.Version, pair.Identity);
}

/// <summary>
/// One run of a strategy on one target (a rollback, an assessment, a checkpoint or a health check), opened by the
/// catalog for the request and disposed when the run ends. Whatever the run learns on the way (a connection, the
/// decided revision, what a step replaced) lives in the session, never beyond it.
/// </summary>
public interface IRollbackSession : IAsyncDisposable
{
    /// <summary>The target's key and location; checked when the session opens (a bad request fails before anything is read).</summary>
    TargetIdentity Target { get; }

    Task<StrategyAssessment> AssessAsync();

    Task<VersionIdentity> CaptureCheckpointAsync(CheckpointWriter writer);

    /// <summary>Decides the steps without changing anything; every precondition is checked here.</summary>
    Task<RollbackPlan> PlanAsync();

    /// <summary>Runs one mutating step of the plan; consent has already been given for every step.</summary>
    Task<StepResult> ExecuteStepAsync(PlanStep step, RollbackPlan plan, RollbackCheckpoint checkpoint);

    Task<VersionIdentity> GetCurrentVersionAsync();

    /// <summary>
    /// After verification: keep the change (verified true: e.g. remove the failed container) or put back what the
    /// steps replaced (false). Null when the strategy has nothing to finish.
    /// </summary>
    Task<StepResult?> CompleteAsync(RollbackPlan plan, bool verified);

    /// <summary>
    /// Saves what a later rollback needs to restore this version (e.g. the resolved compose configuration) into
    /// folder when the version is recorded verified-good. Returns false when the version alone is enough.
    /// </summary>
    Task<bool> CaptureVerifiedSnapshotAsync(string folder);
}

/// <summary>
/// Log lines a strategy read from its target, newest last, and where from (e.g. "pod/web-5d9f/app"). Each source gives at
/// most <see cref="MaxLinesPerSource"/> lines (its newest) and a sample at most <see cref="MaxSources"/> sources.
/// </summary>
public sealed record LogSample(IReadOnlyList<string> Lines, IReadOnlyList<string> Sources)
{
    public const int MaxLinesPerSource = 1000;
    public const int MaxSources = 10;

    /// <summary>Whether some source reached <see cref="MaxLinesPerSource"/>, so older lines of the window were left out.</summary>
    public bool Capped { get; init; }

    /// <summary>A log's text as lines: split on line ends, the last empty line dropped.</summary>
    public static IReadOnlyList<string> Split(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').ToList();
        if (lines.Count > 0 && lines[^1].Length == 0)
        {
            lines.RemoveAt(lines.Count - 1);
        }

        return lines;
    }
}

/// <summary>
/// A session that can read its target's logs as the target is now (its pods or containers). After a rollback's
/// verification the engine counts their error lines against those of the logs the checkpoint kept (marked with
/// <see cref="CheckpointWriter.AddLog"/>), for the checklist's "No error spikes in logs".
/// </summary>
public interface IReadsLogs
{
    /// <summary>
    /// The lines the target wrote since a time (the first change), capped as <see cref="LogSample"/> says; null when
    /// the target has nothing to read logs from (no container or pod). Throws when the logs cannot be read. A time, not
    /// a window: finding the containers can take long enough that a window counted before would miss the first lines.
    /// </summary>
    Task<LogSample?> ReadRecentLogsAsync(DateTimeOffset since, CancellationToken cancellation);
}

/// <summary>One target a selection found, with whether it is failing now (only failing ones are rolled back unless -All).</summary>
public sealed record SelectedTarget(string Name, RollbackRequest Request, bool Failing, string State);

/// <summary>A session whose target can be a selection of many (DeploymentTarget.IsSelection), e.g. a label selector.</summary>
public interface ISelectsTargets
{
    /// <summary>Describes the selection for progress messages.</summary>
    string Selection { get; }

    /// <summary>Whether every selected target is rolled back, not only the failing ones.</summary>
    bool IncludesHealthy { get; }

    /// <summary>Every target the selection names, each as a request for one target; throws when none matches.</summary>
    Task<IReadOnlyList<SelectedTarget>> SelectAsync();
}

/// <summary>
/// A session whose change is one switch that takes effect at once and that its checkpoint alone can put back (a feature
/// flag's kill switch). The run makes the plan's first step as soon as the checkpoint is written, and journals the
/// attempt's start, ROLLBACK_STARTED and the step starts right after it, in the order they otherwise come before it.
/// </summary>
public interface ISwitchesAtOnce
{
}

/// <summary>
/// A session whose tool is slow to start (Compose v1's helper process): a rollback starts it right after the session
/// opens, so that the start overlaps the module's own work (the lock, the journal) instead of following it.
/// </summary>
public interface IStartsToolEarly
{
    void StartTool();
}
