using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>-Strategy Kubernetes: one workload, or every workload a label selector matches.</summary>
public sealed class KubernetesParameters : StrategyParameters
{
    /// <summary>The workload's name.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>The workload's namespace (default: the context's namespace, else 'default').</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Namespace { get; set; }

    /// <summary>The workload's kind.</summary>
    [Parameter]
    [ValidateSet("Deployment", "StatefulSet", "DaemonSet", IgnoreCase = true)]
    public string? Kind { get; set; }

    /// <summary>The kubeconfig file (default: KUBECONFIG, else ~/.kube/config, else the pod's service account).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KubeConfig { get; set; }

    /// <summary>The kubeconfig context (default: its current context).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Context { get; set; }

    /// <summary>Roll back every workload of -Kind matching this label selector, in parallel (the failing ones unless -All).</summary>
    [Parameter, RollbackOption]
    [ValidateNotNullOrEmpty]
    public string? Selector { get; set; }

    /// <summary>-Selector: roll back every matching workload, not only the failing ones.</summary>
    [Parameter, RollbackOption]
    public SwitchParameter All { get; set; }

    /// <summary>Seconds to wait for the rollout to complete.</summary>
    [Parameter, RollbackOption]
    [ValidateRange(1, 86400)]
    public int TimeoutSec { get; set; } = 300;

    public override DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths)
    {
        var earlier = piped as KubernetesTarget;
        return new KubernetesTarget
        {
            Name = Name ?? earlier?.Name,
            Namespace = Namespace ?? earlier?.Namespace,
            Kind = Kind ?? earlier?.Kind,
            KubeConfig = KubeConfig is not null ? paths.Resolve(KubeConfig) : earlier?.KubeConfig,
            Context = Context ?? earlier?.Context,
            Selector = Selector,
            All = All,
            Timeout = TimeSpan.FromSeconds(TimeoutSec),
        };
    }
}
