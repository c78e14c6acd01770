using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Cmdlets that name one deployment target (see TargetBinding) and do not verify it.</summary>
public abstract class TargetCmdletBase : RollbackCmdletBase, IDynamicParameters
{
    protected TargetCmdletBase() => Binding = new TargetBinding(this, withRollbackOptions: false);

    /// <summary>
    /// The rollback strategy; its name completes with Tab. Required (checked in ProcessRecord, not declared Mandatory:
    /// PowerShell would prompt for it in an interactive host instead of failing a runbook with StrategyRequired).
    /// </summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(StrategyCompleter))]
    [ValidateNotNullOrEmpty]
    public string? Strategy { get; set; }

    protected TargetBinding Binding { get; }

    public object GetDynamicParameters() => Binding.Offer(Strategy);

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        Binding.CaptureCommandLine();
    }

    /// <summary>The target from -Strategy and its parameters, or from a piped one; argument errors end the command before anything runs.</summary>
    protected DeploymentTarget BuildTarget(DeploymentTarget? piped)
    {
        piped ??= Binding.Piped;
        try
        {
            return Binding.ToTarget(Binding.Check(Strategy, piped, namesTarget: true)!, piped);
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            throw;
        }
    }
}

/// <summary>Cmdlets that can verify with health checks and smoke tests.</summary>
public abstract class VerifyingCmdletBase : RollbackCmdletBase
{
    /// <summary>HTTP endpoints that must answer healthy.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] HealthCheckUri { get; set; } = Array.Empty<string>();

    /// <summary>Status codes that count as healthy; any 2xx when not given.</summary>
    [Parameter]
    [ValidateRange(100, 599)]
    public int[] ExpectedStatus { get; set; } = Array.Empty<int>();

    /// <summary>A regular expression the health response body must match.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? HealthCheckBody { get; set; }

    [Parameter]
    [ValidateRange(0, 100)]
    public int HealthCheckRetries { get; set; } = 3;

    [Parameter]
    [ValidateRange(0, 3600)]
    public double HealthCheckRetryIntervalSec { get; set; } = 2;

    [Parameter]
    [ValidateRange(1, 3600)]
    public double HealthCheckTimeoutSec { get; set; } = 10;

    /// <summary>Accept any TLS certificate from the health endpoint. Off by default.</summary>
    [Parameter]
    public SwitchParameter SkipCertificateCheck { get; set; }

    /// <summary>Smoke tests: script blocks (pass unless they throw or return $false) or script/executable paths (pass on exit code 0).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public object[] SmokeTest { get; set; } = Array.Empty<object>();

    protected IReadOnlyList<HealthCheckOptions> BuildHealthChecks() => HealthCheckUri.Select(uri => new HealthCheckOptions
    {
        Uri = HealthCheckOptions.ParseUri(uri),
        ExpectedStatus = ExpectedStatus,
        BodyPattern = HealthCheckOptions.ValidateBodyPattern(HealthCheckBody),
        Retries = HealthCheckRetries,
        Interval = TimeSpan.FromSeconds(HealthCheckRetryIntervalSec),
        Timeout = TimeSpan.FromSeconds(HealthCheckTimeoutSec),
        SkipCertificateCheck = SkipCertificateCheck,
    }).ToList();

    protected IReadOnlyList<ScriptAction> BuildSmokeTests() => SmokeTest.Select(s => ToScriptAction(s, "smoke test")).ToList();

    protected VerificationOptions BuildVerification() => new() { HealthChecks = BuildHealthChecks(), SmokeTests = BuildSmokeTests() };

    /// <summary>-Plan: -HealthCheckUri and -SmokeTest given on the command line are added to the service's own checks.</summary>
    protected ServicePlan WithServiceChecks(ServicePlan plan)
    {
        var extra = BuildVerification();
        return extra.Any
            ? plan with { Verification = new VerificationOptions { HealthChecks = plan.Verification.HealthChecks.Concat(extra.HealthChecks).ToList(), SmokeTests = plan.Verification.SmokeTests.Concat(extra.SmokeTests).ToList() } }
            : plan;
    }
}

/// <summary>Cmdlets that name one deployment target (see TargetBinding) and can verify it with health checks and smoke tests.</summary>
public abstract class TargetedCmdletBase : VerifyingCmdletBase, IDynamicParameters
{
    protected TargetedCmdletBase() => Binding = new TargetBinding(this, TakesRollbackOptions);

    /// <summary>
    /// The rollback strategy; its name completes with Tab. Required when the command names a target (checked in
    /// ProcessRecord, not declared Mandatory: PowerShell would prompt for it instead of failing a runbook with StrategyRequired).
    /// </summary>
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(StrategyCompleter))]
    [ValidateNotNullOrEmpty]
    public virtual string? Strategy { get; set; }

    protected TargetBinding Binding { get; }

    /// <summary>Whether this cmdlet takes the strategies' rollback options (how to roll back), not only what names the target.</summary>
    protected virtual bool TakesRollbackOptions => false;

    public object GetDynamicParameters() => Binding.Offer(Strategy);

    protected override void BeginProcessing()
    {
        base.BeginProcessing();
        Binding.CaptureCommandLine();
    }

    /// <summary>Whether this command acts on a target (then -Strategy, or a piped object's strategy, is required).</summary>
    protected virtual bool NamesTarget(DeploymentTarget? piped) => true;

    /// <summary>
    /// With -Plan the plan names the targets: -Strategy or a strategy's parameter beside it would be ignored, so it is
    /// refused (except those named in allowed, which mean the same for a plan, such as -All).
    /// </summary>
    protected void CheckPlanAlone(DeploymentTarget? piped, params string[] allowed)
    {
        var conflict = Binding.Given(nameof(Strategy)) ? nameof(Strategy)
            : piped is not null ? "a piped assessment, result or checkpoint"
            : Binding.BoundStrategyParameters.FirstOrDefault(p => !allowed.Contains(p, StringComparer.OrdinalIgnoreCase));
        if (conflict is not null)
        {
            ThrowTerminatingError(ToErrorRecord(new RollbackException(ErrorIds.PlanParameterConflict, RollbackErrorKind.InvalidArgument,
                $"-Plan names the targets (each component's strategy and parameters are in the plan), so {(conflict.StartsWith('a') ? conflict : "-" + conflict)} cannot be given with it. Leave it out, put it in the plan's component, or pass it at run time with -ComponentParameter @{{ '<component>' = @{{ ... }} }}.")
            {
                TargetName = conflict,
            }));
        }
    }

    /// <summary>A plan-only parameter given without -Plan is refused rather than ignored.</summary>
    protected void CheckPlanOnly(bool hasPlan, params string[] planOnly)
    {
        foreach (var name in planOnly.Where(n => !hasPlan && MyInvocation.BoundParameters.ContainsKey(n)))
        {
            ThrowTerminatingError(ToErrorRecord(TargetBinding.ParameterNotForStrategy(name, "-Plan", "a single target")));
        }
    }

    /// <summary>Further checks of this command's parameters against the strategy, before anything is read or changed.</summary>
    protected virtual void CheckParameters(StrategyParameters strategy)
    {
    }

    /// <summary>Builds the engine request (null when the command names no target), turning argument errors into terminating errors before anything runs.</summary>
    protected RollbackRequest? BuildRequest(Func<RollbackRequest, RollbackRequest>? customise = null, DeploymentTarget? piped = null)
    {
        piped ??= Binding.Piped;
        try
        {
            var verification = BuildVerification();
            if (Binding.Check(Strategy, piped, NamesTarget(piped)) is not { } parameters)
            {
                return null;
            }

            CheckParameters(parameters);
            var request = new RollbackRequest { Deployment = Binding.ToTarget(parameters, piped), Verification = verification, SkipCertificateCheck = SkipCertificateCheck };
            return customise is null ? request : customise(request);
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            throw;
        }
    }
}
