using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>Cmdlets that name one deployment target: a strategy and what identifies the target for it.</summary>
public abstract class TargetCmdletBase : RollbackCmdletBase, IDynamicParameters
{
    /// <summary>The target parameters each strategy reads; given to another strategy, one would be ignored without a word.</summary>
    private static readonly Dictionary<string, string[]> TargetParameterStrategies = new(StringComparer.OrdinalIgnoreCase)
    {
        [nameof(Path)] = new[] { StrategyNames.Git, StrategyNames.DockerCompose, StrategyNames.FeatureFlag, StrategyNames.Config, StrategyNames.Database, StrategyNames.Release },
        [nameof(Name)] = new[] { StrategyNames.Container, StrategyNames.Kubernetes },
        [nameof(DockerHost)] = new[] { StrategyNames.Container, StrategyNames.DockerCompose },
        [nameof(File)] = new[] { StrategyNames.DockerCompose },
        [nameof(ProjectName)] = new[] { StrategyNames.DockerCompose },
        [nameof(Service)] = new[] { StrategyNames.DockerCompose },
        [nameof(Project)] = new[] { StrategyNames.FeatureFlag },
        [nameof(Tool)] = new[] { StrategyNames.Database },
        [nameof(ToolPath)] = new[] { StrategyNames.Database },
        [nameof(App)] = new[] { StrategyNames.Database },
        [nameof(ToolEnvironment)] = new[] { StrategyNames.Database },
        [nameof(Namespace)] = new[] { StrategyNames.Kubernetes },
        [nameof(Kind)] = new[] { StrategyNames.Kubernetes },
        [nameof(KubeConfig)] = new[] { StrategyNames.Kubernetes },
        [nameof(Context)] = new[] { StrategyNames.Kubernetes },
    };

    /// <summary>The same for the dynamic parameters, where a cmdlet offers them (Test-RollbackHealth's -Uri is its own).</summary>
    private static readonly Dictionary<string, string[]> FlagParameterStrategies = new(StringComparer.OrdinalIgnoreCase)
    {
        [nameof(FeatureFlagParameters.Provider)] = new[] { StrategyNames.FeatureFlag },
        [nameof(FeatureFlagParameters.Flag)] = new[] { StrategyNames.FeatureFlag },
        [nameof(FeatureFlagParameters.Uri)] = new[] { StrategyNames.FeatureFlag },
        [nameof(FeatureFlagParameters.Environment)] = new[] { StrategyNames.FeatureFlag },
        [nameof(FeatureFlagParameters.ApiToken)] = new[] { StrategyNames.FeatureFlag },
        [nameof(FeatureFlagParameters.Method)] = new[] { StrategyNames.FeatureFlag },
        [nameof(FeatureFlagParameters.Header)] = new[] { StrategyNames.FeatureFlag },
        [nameof(FeatureFlagParameters.BodyTemplate)] = new[] { StrategyNames.FeatureFlag },
        [nameof(FeatureFlagParameters.PreviousPath)] = new[] { StrategyNames.Config },
    };

    private readonly FeatureFlagParameters flagParameters = new();
    private HashSet<string> commandLineParameters = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The FeatureFlag and Config parameters; null where a cmdlet does not take them.</summary>
    public virtual object? GetDynamicParameters() => flagParameters;

    /// <summary>
    /// The rollback strategy; its name completes with Tab. Required (checked in ProcessRecord, not declared Mandatory:
    /// PowerShell would prompt for it in an interactive host instead of failing a runbook with StrategyRequired).
    /// </summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateSet("Git", "Kubernetes", "Container", "DockerCompose", "Database", "FeatureFlag", "Config", "Release", IgnoreCase = true)]
    public string? Strategy { get; set; }

    /// <summary>The target's folder (Git: the repository; DockerCompose: the project); defaults to the current folder.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Container: the container's name.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    /// <summary>Container, DockerCompose: the Docker engine's address (default: DOCKER_HOST, else the local socket or pipe).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? DockerHost { get; set; }

    /// <summary>DockerCompose: the project's compose file, when not the default name in -Path (a relative path is relative to -Path).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? File { get; set; }

    /// <summary>DockerCompose: the project name, when not Compose's default for the folder.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ProjectName { get; set; }

    /// <summary>
    /// FeatureFlag: the project that holds the flag (Unleash, LaunchDarkly). A static parameter on purpose: PowerShell
    /// binds static parameters first, by prefix, so a dynamic -Project would be taken as -ProjectName.
    /// </summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Project { get; set; }

    /// <summary>Database: the migration tool (Django, Alembic, EfCore, Rails).</summary>
    [Parameter]
    [ValidateSet("Django", "Alembic", "EfCore", "Rails", IgnoreCase = true)]
    public string? Tool { get; set; }

    /// <summary>Database: the interpreter or tool to run (e.g. a virtualenv's python, or dotnet).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ToolPath { get; set; }

    /// <summary>Database Django: the app whose migrations are rolled back.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? App { get; set; }

    /// <summary>Database: extra environment for the tool, e.g. @{ DATABASE_URL = ... }; values are never logged or written.</summary>
    [Parameter]
    public System.Collections.Hashtable? ToolEnvironment { get; set; }

    /// <summary>Kubernetes: the workload's namespace (default: the context's namespace, else 'default').</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Namespace { get; set; }

    /// <summary>Kubernetes: the workload's kind.</summary>
    [Parameter]
    [ValidateSet("Deployment", "StatefulSet", "DaemonSet", IgnoreCase = true)]
    public string? Kind { get; set; }

    /// <summary>Kubernetes: the kubeconfig file (default: KUBECONFIG, else ~/.kube/config, else the pod's service account).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? KubeConfig { get; set; }

    /// <summary>Kubernetes: the kubeconfig context (default: its current context).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Context { get; set; }

    /// <summary>DockerCompose: only these services.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Service { get; set; } = Array.Empty<string>();

    /// <summary>
    /// The request fields that identify the target, from the parameters; a piped object's TargetSpec fills in
    /// what the parameters leave out (so an assessment or result carries its container, project and services on).
    /// </summary>
    protected RollbackRequest BuildTargetRequest(TargetSpec? piped = null)
    {
        string? strategy = null;
        try
        {
            strategy = CheckStrategy(piped);
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
        }

        var request = BuildTargetRequestFields(piped);
        return strategy is null ? request : request with { Strategy = strategy };
    }

    protected override void BeginProcessing()
    {
        base.BeginProcessing();

        // Piped objects bind their properties per record, after this: what is bound now was given on the command line.
        commandLineParameters = new HashSet<string>(MyInvocation.BoundParameters.Keys, StringComparer.OrdinalIgnoreCase);
    }

    protected bool GivenOnCommandLine(string parameter) => commandLineParameters.Contains(parameter);

    /// <summary>-Strategy or a parameter that identifies a target was given on the command line.</summary>
    protected bool TargetParametersGiven =>
        GivenOnCommandLine(nameof(Strategy)) || commandLineParameters.Any(p => StrategiesOf(p) is not null);

    /// <summary>The strategies that read a parameter of this command; null when every strategy does (or none identifies a target).</summary>
    private string[]? StrategiesOf(string parameter) =>
        TargetParameterStrategies.TryGetValue(parameter, out var owners) || OwnStrategyParameters.TryGetValue(parameter, out owners)
        || (GetDynamicParameters() is not null && FlagParameterStrategies.TryGetValue(parameter, out owners))
            ? owners
            : null;

    /// <summary>Whether this command acts on a target (then -Strategy, or a piped object's strategy, is required).</summary>
    protected virtual bool NamesTarget(TargetSpec? piped) => true;

    /// <summary>This command's own parameters that only some strategies read, with those strategies.</summary>
    protected virtual IReadOnlyDictionary<string, string[]> OwnStrategyParameters { get; } = new Dictionary<string, string[]>();

    /// <summary>Further checks of this command's parameters against the strategy, before anything is read or changed.</summary>
    protected virtual void CheckParameters(string strategy)
    {
    }

    /// <summary>
    /// The strategy, given or from a piped object; null when the command names no target. A missing strategy is never
    /// guessed, and a parameter of another strategy is refused rather than ignored.
    /// </summary>
    private string? CheckStrategy(TargetSpec? piped)
    {
        var strategy = Strategy ?? (piped?.Strategy is { Length: > 0 } pipedStrategy ? pipedStrategy : null);
        if (strategy is null)
        {
            if (!NamesTarget(piped))
            {
                return null;
            }

            throw new RollbackException(ErrorIds.StrategyRequired, RollbackErrorKind.InvalidArgument,
                $"Say which kind of target this is with -Strategy ({string.Join(", ", StrategyNames.All)}), or pipe in an assessment, result or checkpoint, which carries it. The strategy is never guessed, so that a command meant for one target cannot act on another (such as the Git repository in the current folder).");
        }

        foreach (var parameter in commandLineParameters)
        {
            if (StrategiesOf(parameter) is { } owners && !owners.Contains(strategy, StringComparer.OrdinalIgnoreCase))
            {
                throw ParameterNotForStrategy(parameter, $"-Strategy {string.Join(" or ", owners)}", $"-Strategy {strategy}");
            }
        }

        CheckParameters(strategy);
        return strategy;
    }

    /// <summary>The error for a parameter that what the command was given to act on would ignore.</summary>
    protected static RollbackException ParameterNotForStrategy(string parameter, string belongsTo, string given) =>
        new(ErrorIds.ParameterNotForStrategy, RollbackErrorKind.InvalidArgument,
            $"-{parameter} is a parameter of {belongsTo}, not of {given}, which would ignore it. Leave -{parameter} out, or use it with {belongsTo}.")
        {
            TargetName = parameter,
        };

    private RollbackRequest BuildTargetRequestFields(TargetSpec? piped) => flagParameters.Apply(new RollbackRequest
    {
        Path = piped?.Path is { } pipedPath && !MyInvocation.BoundParameters.ContainsKey(nameof(Path)) ? pipedPath : ResolvePathOrCurrent(Path),
        Name = Name ?? piped?.Name,
        DockerHost = DockerHost ?? piped?.DockerHost,
        File = File ?? piped?.File,
        ProjectName = ProjectName ?? piped?.ProjectName,
        Services = Service.Length > 0 ? Service : piped?.Services ?? (IReadOnlyList<string>)Array.Empty<string>(),
        Provider = piped?.Provider,
        Flag = piped?.Flag,
        ServiceUri = piped?.ServiceUri is { } uri ? new Uri(uri) : null,
        Project = Project ?? piped?.Project,
        Tool = Tool ?? piped?.Tool,
        ToolPath = ToolPath ?? piped?.ToolPath,
        App = App ?? piped?.App,
        ToolEnvironment = ToolEnvironment?.Cast<System.Collections.DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? ""),
        Environment = piped?.Environment,
        Namespace = Namespace ?? piped?.Namespace,
        Kind = Kind ?? piped?.Kind,
        KubeConfig = KubeConfig is not null ? ResolvePath(KubeConfig) : piped?.KubeConfig,
        KubeContext = Context ?? piped?.Context,
    });
}

/// <summary>Cmdlets that act on one deployment target and can verify it with health checks and smoke tests.</summary>
public abstract class TargetedCmdletBase : TargetCmdletBase
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

    /// <summary>Builds the engine request, turning argument errors into terminating errors before anything runs.</summary>
    protected RollbackRequest BuildRequest(Func<RollbackRequest, RollbackRequest>? customise = null, TargetSpec? piped = null)
    {
        try
        {
            var request = BuildTargetRequest(piped) with
            {
                HealthChecks = BuildHealthChecks(),
                SmokeTests = BuildSmokeTests(),
                SkipCertificateCheck = SkipCertificateCheck,
            };
            return customise is null ? request : customise(request);
        }
        catch (RollbackException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            throw;
        }
    }
}
