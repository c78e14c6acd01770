namespace DeploymentRollback.Engine;

/// <summary>
/// The catalog: one line per strategy, pairing its target record with the session that works on it. Core reaches
/// strategies only through this and the session contract.
/// </summary>
public static class StrategyRegistry
{
    private static readonly Entry[] Entries =
    {
        Add<GitTarget>((request, context) => new Git.GitSession(request, context)),
        Add<KubernetesTarget>((request, context) => new Kubernetes.KubernetesSession(request, context)),
        Add<ContainerTarget>((request, context) => new Container.ContainerSession(request, context)),
        Add<DockerComposeTarget>((request, context) => new DockerCompose.DockerComposeSession(request, context)),
        Add<DatabaseTarget>((request, context) => new Database.DatabaseSession(request, context)),
        Add<FeatureFlagTarget>((request, context) => new FeatureFlag.FeatureFlagSession(request, context)),
        Add<ConfigTarget>((request, context) => new Config.ConfigSession(request, context)),
        Add<ReleaseTarget>((request, context) => new Release.ReleaseSession(request, context)),
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

    /// <summary>The catalog's spelling of a strategy name given in any case; throws when there is none.</summary>
    public static string Canonical(string name) =>
        Names.FirstOrDefault(n => n.Equals(name, StringComparison.OrdinalIgnoreCase)) ?? throw Unknown(name);

    private static RollbackException Unknown(string name) =>
        new(ErrorIds.StrategyNotImplemented, RollbackErrorKind.InvalidArgument,
            $"'{name}' is not a rollback strategy. Use one of: {string.Join(", ", Names)}.");

    private static Entry Add<T>(Func<RollbackRequest, EngineContext, IRollbackSession> open) where T : DeploymentTarget =>
        new(DeploymentTarget.StrategyOf(typeof(T)), typeof(T), open);

    private sealed record Entry(string Name, Type TargetType, Func<RollbackRequest, EngineContext, IRollbackSession> open)
    {
        public IRollbackSession Open(RollbackRequest request, EngineContext context) => open(request, context);
    }
}
