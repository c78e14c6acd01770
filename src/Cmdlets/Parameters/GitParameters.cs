using System.Management.Automation;

namespace DeploymentRollback.Commands;

/// <summary>-Strategy Git: a Git-deployed working tree.</summary>
public sealed class GitParameters : StrategyParameters
{
    /// <summary>The repository's working folder; the current folder when not given.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    /// <summary>Checkout puts the working tree at the target; Revert adds revert commits and keeps history.</summary>
    [Parameter, RollbackOption]
    [ValidateSet("Checkout", "Revert", IgnoreCase = true)]
    public string Mode { get; set; } = "Checkout";

    /// <summary>-Mode Revert: revert only these commits instead of every commit after the target.</summary>
    [Parameter, RollbackOption]
    [ValidateNotNullOrEmpty]
    public string[] Commit { get; set; } = Array.Empty<string>();

    /// <summary>-Mode Revert: push the branch to its remote afterwards.</summary>
    [Parameter, RollbackOption]
    public SwitchParameter Push { get; set; }

    /// <summary>Credentials for -Push; never logged or written.</summary>
    [Parameter, RollbackOption]
    [Credential]
    public PSCredential? Credential { get; set; }

    private bool Reverting => "Revert".Equals(Mode, StringComparison.OrdinalIgnoreCase);

    public override void Check(Func<string, bool> given)
    {
        foreach (var revertOnly in new[] { nameof(Commit), nameof(Push) }.Where(given))
        {
            if (!Reverting)
            {
                throw TargetBinding.ParameterNotForStrategy(revertOnly, "-Strategy Git -Mode Revert", $"-Mode {Mode}");
            }
        }
    }

    public override DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths) => new GitTarget
    {
        Path = paths.OrCurrent(Path, (piped as GitTarget)?.Path),
        Mode = Reverting ? GitRollbackMode.Revert : GitRollbackMode.Checkout,
        Commits = Commit,
        Push = Push,
        UserName = Credential?.UserName,
        Password = Plain(Credential?.Password),
    };
}
