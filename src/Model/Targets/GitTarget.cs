using System.Text.Json.Serialization;

namespace DeploymentRollback;

/// <summary>A Git-deployed working tree.</summary>
public sealed record GitTarget : DeploymentTarget
{
    /// <summary>The repository's working folder.</summary>
    public string? Path { get; init; }
    public GitRollbackMode Mode { get; init; } = GitRollbackMode.Checkout;
    /// <summary>Revert mode: only these commits.</summary>
    public IReadOnlyList<string> Commits { get; init; } = Array.Empty<string>();
    /// <summary>Revert mode: push the branch afterwards.</summary>
    public bool Push { get; init; }
    public string? UserName { get; init; }
    /// <summary>For the push only; never logged, written or carried on.</summary>
    [JsonIgnore]
    public string? Password { get; init; }

    public override DeploymentTarget WithoutSecrets(Func<string, string> redactText) => this with { Password = null };
}
