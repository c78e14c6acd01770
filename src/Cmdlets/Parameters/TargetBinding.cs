using System.Management.Automation;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// How a cmdlet names one target: -Strategy, then that strategy's own parameters (its parameter class, offered as
/// dynamic parameters), or a piped assessment, result or checkpoint that carries the target. Shared by the cmdlets that
/// name a target, with or without health checks.
/// </summary>
public sealed class TargetBinding
{
    /// <summary>The parameter a piped object's Deployment property binds to.</summary>
    public const string PipedTarget = "Deployment";

    private readonly PSCmdlet cmdlet;
    private readonly bool withRollbackOptions;
    private RuntimeDefinedParameterDictionary? offered;
    private HashSet<string> commandLine = new(StringComparer.OrdinalIgnoreCase);

    public TargetBinding(PSCmdlet cmdlet, bool withRollbackOptions)
    {
        this.cmdlet = cmdlet;
        this.withRollbackOptions = withRollbackOptions;
    }

    /// <summary>
    /// The named strategy's parameters (and the others hidden, to be refused by name); every strategy's when none is
    /// named yet. Also -Deployment, hidden, which takes the target a piped assessment, result or checkpoint carries.
    /// </summary>
    public RuntimeDefinedParameterDictionary Offer(string? strategy)
    {
        if (offered is null)
        {
            offered = StrategyParameters.Offer(strategy, withRollbackOptions, new HashSet<string>(
                cmdlet.GetType().GetProperties().Where(p => Attribute.IsDefined(p, typeof(ParameterAttribute))).Select(p => p.Name), StringComparer.OrdinalIgnoreCase));
            offered.Add(PipedTarget, new RuntimeDefinedParameter(PipedTarget, typeof(DeploymentTarget),
                new System.Collections.ObjectModel.Collection<Attribute> { new ParameterAttribute { ValueFromPipelineByPropertyName = true, DontShow = true } }));
        }

        return offered;
    }

    /// <summary>The target a piped object carries (bound per record), if any.</summary>
    public DeploymentTarget? Piped => offered is not null && offered.TryGetValue(PipedTarget, out var bound) && bound.IsSet
        ? (bound.Value is PSObject wrapped ? wrapped.BaseObject : bound.Value) as DeploymentTarget
        : null;

    /// <summary>Call in BeginProcessing: piped objects bind their properties per record, after it, so what is bound then was given on the command line.</summary>
    public void CaptureCommandLine() => commandLine = new HashSet<string>(cmdlet.MyInvocation.BoundParameters.Keys, StringComparer.OrdinalIgnoreCase);

    public bool Given(string parameter) => commandLine.Contains(parameter);

    /// <summary>The strategy parameters that were bound (on the command line or from the pipeline).</summary>
    public IReadOnlyList<string> BoundStrategyParameters => offered?.Values.Where(v => v.IsSet && v.Name != PipedTarget).Select(v => v.Name).ToList() ?? new List<string>();

    /// <summary>A bound strategy parameter's value, or null.</summary>
    public object? Value(string name) => offered is not null && offered.TryGetValue(name, out var bound) && bound.IsSet ? bound.Value : null;

    /// <summary>-Strategy or a strategy's parameter was given on the command line.</summary>
    public bool AnyGiven => Given("Strategy") || (offered?.Values.Any(v => v.IsSet && v.Name != PipedTarget) ?? false);

    /// <summary>
    /// The strategy's parameters, given or from a piped object; null when the command names no target. A missing
    /// strategy is never guessed, and a parameter of another strategy is refused rather than ignored.
    /// </summary>
    public StrategyParameters? Check(string? strategy, DeploymentTarget? piped, bool namesTarget)
    {
        var name = strategy ?? piped?.Strategy;
        if (name is null)
        {
            return namesTarget
                ? throw new RollbackException(ErrorIds.StrategyRequired, RollbackErrorKind.InvalidArgument,
                    $"Say which kind of target this is with -Strategy ({string.Join(", ", StrategyParameters.Strategies.Keys)}), or pipe in an assessment, result or checkpoint, which carries it. The strategy is never guessed, so that a command meant for one target cannot act on another (such as the Git repository in the current folder).")
                : null;
        }

        if (!StrategyParameters.Strategies.ContainsKey(name))
        {
            throw new RollbackException(ErrorIds.StrategyNotImplemented, RollbackErrorKind.InvalidArgument,
                $"'{name}' is not a rollback strategy. Use one of: {string.Join(", ", StrategyParameters.Strategies.Keys)}.") { TargetName = name };
        }

        var (parameters, foreign) = StrategyParameters.Bind(name, offered, withRollbackOptions);
        foreign = foreign.Where(p => p != PipedTarget).ToList();
        if (foreign.Count > 0)
        {
            var owners = StrategyParameters.Owners(foreign[0], withRollbackOptions);
            throw ParameterNotForStrategy(foreign[0], $"-Strategy {string.Join(" or ", owners)}", $"-Strategy {parameters.Strategy}");
        }

        parameters.Check(Given);
        return parameters;
    }

    /// <summary>The target record from the checked parameters; a piped target of the same strategy fills in what they leave out.</summary>
    public DeploymentTarget ToTarget(StrategyParameters parameters, DeploymentTarget? piped) =>
        parameters.ToTarget(piped?.Strategy.Equals(parameters.Strategy, StringComparison.OrdinalIgnoreCase) == true ? piped : null,
            new PathResolver(cmdlet.GetUnresolvedProviderPathFromPSPath, () => cmdlet.SessionState.Path.CurrentFileSystemLocation.ProviderPath));

    /// <summary>The error for a parameter that what the command was given to act on would ignore.</summary>
    public static RollbackException ParameterNotForStrategy(string parameter, string belongsTo, string given) =>
        new(ErrorIds.ParameterNotForStrategy, RollbackErrorKind.InvalidArgument,
            $"-{parameter} is a parameter of {belongsTo}, not of {given}, which would ignore it. Leave -{parameter} out, or use it with {belongsTo}.")
        {
            TargetName = parameter,
        };
}
