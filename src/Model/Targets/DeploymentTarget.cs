namespace DeploymentRollback;

/// <summary>
/// What names one target for its strategy (a repository, a container, a flag...). Requests carry it, and assessments,
/// checkpoints and results carry it on, so a piped object names its target without the parameters being repeated.
/// One record per strategy, named &lt;Strategy&gt;Target.
/// </summary>
public abstract record DeploymentTarget
{
    private const string Suffix = "Target";

    /// <summary>The strategy's name as -Strategy takes it: the record's name without "Target".</summary>
    public string Strategy => StrategyOf(GetType());

    /// <summary>The strategy a target record type belongs to.</summary>
    public static string StrategyOf(Type targetType) =>
        targetType.Name.EndsWith(Suffix, StringComparison.Ordinal) ? targetType.Name[..^Suffix.Length] : targetType.Name;

    /// <summary>Whether this names many targets at once (e.g. a label selector), each rolled back as its own attempt.</summary>
    public virtual bool IsSelection => false;

    /// <summary>
    /// This target as it may be shown, journaled and piped on: without secrets (a token, a password, credentials in an
    /// address). A piped re-run is given those again, as it is given -ApiToken. redactText is the engine's redactor for
    /// free text such as an address with a secret query value.
    /// </summary>
    public virtual DeploymentTarget WithoutSecrets(Func<string, string> redactText) => this;
}
