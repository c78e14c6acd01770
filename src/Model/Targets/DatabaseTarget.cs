using System.Text.Json.Serialization;

namespace DeploymentRollback;

/// <summary>A project's database schema, rolled back with the project's own migration tool.</summary>
public sealed record DatabaseTarget : DeploymentTarget
{
    /// <summary>Django, Alembic, EfCore or Rails.</summary>
    public string? Tool { get; init; }
    /// <summary>The project folder.</summary>
    public string? Path { get; init; }
    /// <summary>The interpreter or tool to run (python3, alembic, dotnet, bin/rails).</summary>
    public string? ToolPath { get; init; }
    /// <summary>Django: the app whose migrations are rolled back.</summary>
    public string? App { get; init; }
    /// <summary>Extra environment for the tool (connection strings); values never logged, written or carried on.</summary>
    [JsonIgnore]
    public IReadOnlyDictionary<string, string>? ToolEnvironment { get; init; }

    public override DeploymentTarget WithoutSecrets(Func<string, string> redactText) => this with { ToolEnvironment = null };
}
