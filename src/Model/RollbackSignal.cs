namespace DeploymentRollback;

/// <summary>A signal as written to signals/ (a CloudEvents 1.0 structured JSON file).</summary>
public sealed class RollbackSignal
{
    public string Id { get; set; } = "";
    public string Name { get; set; } = "";
    public string Type { get; set; } = "";
    public string Source { get; set; } = "";
    public string? Subject { get; set; }
    public DateTimeOffset Time { get; set; }
    public IReadOnlyDictionary<string, object?> Data { get; set; } = new Dictionary<string, object?>();
    public string FilePath { get; set; } = "";
    public string StateDirectory { get; set; } = "";
    public int? WebhookStatusCode { get; set; }
}
