namespace DeploymentRollback.Engine;

/// <summary>The catalog: one line per strategy. Core reaches strategies only through this and the contract.</summary>
public static class StrategyRegistry
{
    public static IRollbackStrategy Get(string name) => name switch
    {
        _ when name.Equals(StrategyNames.Git, StringComparison.OrdinalIgnoreCase) => new Git.GitStrategy(),
        _ when name.Equals(StrategyNames.Container, StringComparison.OrdinalIgnoreCase) => new Container.ContainerStrategy(),
        _ when name.Equals(StrategyNames.DockerCompose, StringComparison.OrdinalIgnoreCase) => new DockerCompose.DockerComposeStrategy(),
        _ when name.Equals(StrategyNames.FeatureFlag, StringComparison.OrdinalIgnoreCase) => new FeatureFlag.FeatureFlagStrategy(),
        _ when name.Equals(StrategyNames.Config, StringComparison.OrdinalIgnoreCase) => new Config.ConfigStrategy(),
        _ when name.Equals(StrategyNames.Database, StringComparison.OrdinalIgnoreCase) => new Database.DatabaseStrategy(),
        _ when name.Equals(StrategyNames.Kubernetes, StringComparison.OrdinalIgnoreCase) => new Kubernetes.KubernetesStrategy(),
        _ when name.Equals(StrategyNames.Release, StringComparison.OrdinalIgnoreCase) => new Release.ReleaseStrategy(),
        _ => throw new RollbackException(ErrorIds.StrategyNotImplemented, RollbackErrorKind.InvalidArgument,
            $"'{name}' is not a rollback strategy. Use one of: {string.Join(", ", StrategyNames.All)}."),
    };
}
