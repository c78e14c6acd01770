namespace DeploymentRollback.Engine;

/// <summary>
/// The rollback a watcher or an alert listener runs on its own: one target's or a whole plan's. Each knows the
/// version now deployed, which is what a failure is about and what gets quarantined.
/// </summary>
public abstract class AutomaticRollback
{
    public abstract string TargetKey { get; }

    /// <summary>The version now deployed (a plan's: every component's), or null when it cannot be read.</summary>
    public abstract Task<string?> CurrentVersionAsync(EngineContext context);

    public abstract Task<RollbackResult?> RunAsync(string reason, FailureType type, string initiator, EngineContext context);

    public static AutomaticRollback ForTarget(RollbackRequest request, EngineContext context) => new TargetRollback(request, context);

    public static AutomaticRollback ForPlan(ServicePlan plan, PlanRunOptions options) => new PlanRollback(plan, options);

    private sealed class TargetRollback : AutomaticRollback
    {
        private readonly RollbackRequest request;

        public TargetRollback(RollbackRequest request, EngineContext context)
        {
            this.request = request;
            // Opening the session checks the target before the watch starts, and gives its key.
            var session = StrategyRegistry.Open(request, context);
            TargetKey = session.Target.Key;
            session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        public override string TargetKey { get; }

        public override async Task<string?> CurrentVersionAsync(EngineContext context)
        {
            await using var session = StrategyRegistry.Open(request, context);
            return (await session.GetCurrentVersionAsync().ConfigureAwait(false)).Version;
        }

        public override Task<RollbackResult?> RunAsync(string reason, FailureType type, string initiator, EngineContext context) =>
            RollbackEngine.InvokeAsync(request with { Reason = reason, FailureType = type, Initiator = initiator }, context);
    }

    private sealed class PlanRollback(ServicePlan plan, PlanRunOptions options) : AutomaticRollback
    {
        public override string TargetKey => plan.TargetKey;

        public override async Task<string?> CurrentVersionAsync(EngineContext context)
        {
            var versions = new List<string>();
            foreach (var component in plan.Components)
            {
                await using var session = StrategyRegistry.Open(component.Request, context);
                versions.Add($"{component.Name} {(await session.GetCurrentVersionAsync().ConfigureAwait(false)).Version ?? "unknown"}");
            }

            return string.Join(", ", versions);
        }

        public override Task<RollbackResult?> RunAsync(string reason, FailureType type, string initiator, EngineContext context) =>
            PlanEngine.InvokeAsync(plan, options with { Reason = reason, FailureType = type, Initiator = initiator }, context);
    }
}
