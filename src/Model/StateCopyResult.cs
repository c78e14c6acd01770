namespace DeploymentRollback;

/// <summary>What Copy-RollbackState copied (records the destination already had are not counted).</summary>
public sealed class StateCopyResult
{
    public string From { get; set; } = "";
    public string To { get; set; } = "";
    public int Attempts { get; set; }
    public int VerifiedVersions { get; set; }
    public int Events { get; set; }
    public int Checkpoints { get; set; }
    public int Signals { get; set; }
    public int Reports { get; set; }
}
