namespace DeploymentRollback.Engine.Database;

/// <summary>EfCore: not supported yet (Supported is false, so the strategy refuses it with DatabaseToolUnknown).</summary>
internal sealed class EfCoreTool : MigrationTool
{
    public const bool Supported = false;

    public EfCoreTool(RollbackRequest request, string folder)
        : base(request, folder)
    {
    }

    public override string Name => "EfCore";

    protected override Task<IReadOnlyList<Migration>> ReadListAsync(CancellationToken cancellation) => throw new NotSupportedException();

    public override Task<DowngradePlan> PlanDowngradeAsync(string target, CancellationToken cancellation) => throw new NotSupportedException();

    public override Task<ProcessRunResult> DowngradeAsync(string target, CancellationToken cancellation) => throw new NotSupportedException();
}
