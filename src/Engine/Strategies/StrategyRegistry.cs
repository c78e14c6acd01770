namespace DeploymentRollback.Engine;

/// <summary>
/// The catalog: one line per strategy, pairing its target record with the session that works on it. Core reaches
/// strategies only through this and the session contract.
/// </summary>
public static class StrategyRegistry
{
    private static readonly Entry[] Entries =
    {
        Add<GitTarget>(RollbackStage.Application, SnapshotPin.Identity, (request, context) => new Git.GitSession(request, context)),
        Add<KubernetesTarget>(RollbackStage.Application, SnapshotPin.Version, (request, context) => new Kubernetes.KubernetesSession(request, context)),
        Add<ContainerTarget>(RollbackStage.Application, SnapshotPin.Identity, (request, context) => new Container.ContainerSession(request, context)),
        Add<DockerComposeTarget>(RollbackStage.Application, SnapshotPin.Version, (request, context) => new DockerCompose.DockerComposeSession(request, context)),
        Add<DatabaseTarget>(RollbackStage.Data, SnapshotPin.Version, (request, context) => new Database.DatabaseSession(request, context)),
        Add<FeatureFlagTarget>(RollbackStage.FeatureFlags, SnapshotPin.None, (request, context) => new FeatureFlag.FeatureFlagSession(request, context)),
        Add<ConfigTarget>(RollbackStage.Configuration, SnapshotPin.Version, (request, context) => new Config.ConfigSession(request, context)),
        Add<ReleaseTarget>(RollbackStage.Application, SnapshotPin.Version, (request, context) => new Release.ReleaseSession(request, context)),
    };

    /// <summary>Every strategy's name, in catalog order.</summary>
    public static IReadOnlyList<string> Names { get; } = Entries.Select(e => e.Name).ToArray();

    /// <summary>Every target record type, for reading journaled results back.</summary>
    public static IReadOnlyList<Type> TargetTypes { get; } = Entries.Select(e => e.TargetType).ToArray();

    /// <summary>Opens a session for the request's target; its target is checked on the way (a bad request throws).</summary>
    public static IRollbackSession Open(RollbackRequest request, EngineContext context) =>
        context.HostStrategies?.Invoke(request, context)
        ?? (Entries.FirstOrDefault(e => e.TargetType == request.Deployment.GetType()) is { } entry
            ? entry.Open(request, context)
            : throw Unknown(request.Strategy));

    /// <summary>When a plan takes this kind of target back (flags, then configuration, then the application, then data).</summary>
    public static RollbackStage StageOf(DeploymentTarget target) =>
        Entries.FirstOrDefault(e => e.TargetType == target.GetType())?.Stage ?? RollbackStage.Application;

    /// <summary>
    /// The -Target that takes this kind of target to a version a release snapshot recorded: its version, or what pins it
    /// (a commit, an image id; for a config file or a Compose project, the verified record of that version); null for
    /// a kind whose rollback has one destination (a flag turned off).
    /// </summary>
    public static string? SnapshotTarget(DeploymentTarget target, ComponentVersion recorded) =>
        Entries.FirstOrDefault(e => e.TargetType == target.GetType())?.Pin switch
        {
            SnapshotPin.Identity => recorded.Identity ?? recorded.Version,
            SnapshotPin.Version => recorded.Version,
            _ => null,
        };

    /// <summary>The catalog's spelling of a strategy name given in any case; throws when there is none.</summary>
    public static string Canonical(string name) =>
        Names.FirstOrDefault(n => n.Equals(name, StringComparison.OrdinalIgnoreCase)) ?? throw Unknown(name);

    private static RollbackException Unknown(string name) =>
        new(ErrorIds.StrategyNotImplemented, RollbackErrorKind.InvalidArgument,
            $"'{name}' is not a rollback strategy. Use one of: {string.Join(", ", Names)}.");

    private static Entry Add<T>(RollbackStage stage, SnapshotPin pin, Func<RollbackRequest, EngineContext, IRollbackSession> open) where T : DeploymentTarget =>
        new(DeploymentTarget.StrategyOf(typeof(T)), typeof(T), stage, pin, open);

    /// <summary>How a release snapshot's record of a target becomes a -Target for it.</summary>
    private enum SnapshotPin
    {
        Version,
        Identity,
        None,
    }

    private sealed record Entry(string Name, Type TargetType, RollbackStage Stage, SnapshotPin Pin, Func<RollbackRequest, EngineContext, IRollbackSession> open)
    {
        public IRollbackSession Open(RollbackRequest request, EngineContext context) => open(request, context);
    }
}
