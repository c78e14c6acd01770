namespace DeploymentRollback.Engine.Database;

/// <summary>Alembic: not supported yet (Supported is false, so the strategy refuses it with DatabaseToolUnknown).</summary>
internal sealed class AlembicTool : MigrationTool
{
    public const bool Supported = false;

    public AlembicTool(RollbackRequest request, string folder)
        : base(request, folder)
    {
    }

    public override string Name => "Alembic";

    public override Task<IReadOnlyList<Migration>> ListAsync(CancellationToken cancellation) => throw new NotSupportedException();

    public override Task<DowngradePlan> PlanDowngradeAsync(string target, CancellationToken cancellation) => throw new NotSupportedException();

    public override Task<ProcessRunResult> DowngradeAsync(string target, CancellationToken cancellation) => throw new NotSupportedException();
}
