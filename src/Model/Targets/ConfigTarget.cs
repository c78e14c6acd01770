namespace DeploymentRollback;

/// <summary>A configuration file.</summary>
public sealed record ConfigTarget : DeploymentTarget
{
    /// <summary>The live configuration file.</summary>
    public string? Path { get; init; }
    /// <summary>The copy to restore (the spec's config/app.previous.yml), relative to the file's folder.</summary>
    public string? PreviousPath { get; init; }
}
