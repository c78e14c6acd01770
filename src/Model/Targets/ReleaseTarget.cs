namespace DeploymentRollback;

/// <summary>A releases/&lt;version&gt;/ folder layout with a current link (Capistrano, Deployer, Ansistrano).</summary>
public sealed record ReleaseTarget : DeploymentTarget
{
    /// <summary>The deploy folder that holds releases/ and current.</summary>
    public string? Path { get; init; }
}
