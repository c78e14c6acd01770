namespace DeploymentRollback;

/// <summary>A target lock held in a state store: who holds it, since when, and the fencing token its run writes with.</summary>
public sealed class RollbackLock
{
    public string TargetKey { get; set; } = "";
    /// <summary>Local, PostgreSQL or AzureBlob.</summary>
    public string Store { get; set; } = "";
    public string? HolderHost { get; set; }
    public int? HolderProcessId { get; set; }
    public string? HolderUser { get; set; }
    /// <summary>The run that holds the lock (a rollback, a retry or a checkpoint).</summary>
    public string? RunId { get; set; }
    public DateTimeOffset AcquiredAt { get; set; }
    /// <summary>When the holder last renewed its lease; a holder that stops renewing loses a blob lease after its TTL.</summary>
    public DateTimeOffset? RenewedAt { get; set; }
    /// <summary>When an unrenewed lease ends (blob leases); null where the store ends it with the holder's session or process.</summary>
    public DateTimeOffset? ExpiresAt { get; set; }
    public long FencingToken { get; set; }
}
