using System.Text.Json;

namespace DeploymentRollback.Engine;

/// <summary>
/// The one set of options for the indented JSON that checkpoints keep for people. System.Text.Json caches what it learns
/// of a type per options instance: options made per call built the metadata of a Deployment's whole object graph
/// again for every workload of a selection.
/// </summary>
internal static class IndentedJson
{
    public static readonly JsonSerializerOptions Options = new() { WriteIndented = true };
}
