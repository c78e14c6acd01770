namespace DeploymentRollback;

/// <summary>The steps a rollback will take: exactly what -WhatIf shows.</summary>
public sealed class RollbackPlan
{
    public string Strategy { get; init; } = "";
    public string TargetKey { get; init; } = "";
    public string Path { get; init; } = "";
    /// <summary>Where the target is now, as GetCurrentVersionAsync would name it (a plan's preflight reads it from here).</summary>
    public string? FromVersion { get; init; }
    /// <summary>What pins the current version exactly, where the strategy has such a thing (as GetCurrentVersionAsync's identity).</summary>
    public string? FromIdentity { get; init; }
    public string? ToVersion { get; init; }
    /// <summary>What pins the target version exactly (a commit, an image id, a template hash, a migration head).</summary>
    public string? ToIdentity { get; init; }
    /// <summary>When set, there is nothing to do and the rollback is Skipped for this reason.</summary>
    public string? SkipReason { get; init; }
    public IReadOnlyList<PlanStep> Steps { get; init; } = Array.Empty<PlanStep>();
    /// <summary>What the rollback undoes (for Git, the commits after the target), newest first.</summary>
    public IReadOnlyList<string> Changes { get; init; } = Array.Empty<string>();
    /// <summary>What makes the rollback certain to fail or need a person (an irreversible migration, a GitOps owner): a plan's preflight stops on them.</summary>
    public IReadOnlyList<string> Blockers { get; init; } = Array.Empty<string>();
}

public sealed class PlanStep
{
    public int Order { get; init; }
    public string Action { get; init; } = "";
    public string Target { get; init; } = "";
    public string Description { get; init; } = "";
    public bool Mutates { get; init; } = true;
    public override string ToString() => $"{Order}. {Action} {Target}: {Description}";
}
