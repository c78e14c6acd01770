using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Reflection;

namespace DeploymentRollback.Commands;

/// <summary>Marks a parameter only Invoke-Rollback takes: how to roll the target back, not which target it is.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RollbackOptionAttribute : Attribute
{
}

/// <summary>How a parameter class turns paths into full paths, as PowerShell sees them (relative to its location).</summary>
public sealed record PathResolver(Func<string, string> Resolve, Func<string> Current)
{
    /// <summary>The given path in full, else the piped target's, else PowerShell's current folder.</summary>
    public string OrCurrent(string? given, string? piped) => given is not null ? Resolve(given) : piped ?? Current();
}

/// <summary>
/// One strategy's own parameters: what names its target, and (marked RollbackOption) how Invoke-Rollback rolls it back.
/// A cmdlet offers them as dynamic parameters once -Strategy names the strategy. One class per strategy, named
/// &lt;Strategy&gt;Parameters, found by that name: adding a strategy adds a class here and nothing else in this assembly.
/// </summary>
public abstract class StrategyParameters
{
    private const string Suffix = "Parameters";

    private static readonly Lazy<IReadOnlyDictionary<string, Type>> Catalog = new(() =>
        typeof(StrategyParameters).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(StrategyParameters)) && !t.IsAbstract && t.Name.EndsWith(Suffix, StringComparison.Ordinal))
            .ToDictionary(t => t.Name[..^Suffix.Length], t => t, StringComparer.OrdinalIgnoreCase));

    /// <summary>The strategies that have a parameter class, by name (any case).</summary>
    public static IReadOnlyDictionary<string, Type> Strategies => Catalog.Value;

    public string Strategy => GetType().Name[..^Suffix.Length];

    /// <summary>Whether -Target (a version to go back to) means something to this strategy.</summary>
    public virtual bool TakesTargetVersion => true;

    /// <summary>The target record from the parameters given; a piped target of this strategy fills in what they leave out.</summary>
    public abstract DeploymentTarget ToTarget(DeploymentTarget? piped, PathResolver paths);

    /// <summary>Checks across this strategy's parameters, before anything is read or changed. given: named on the command line.</summary>
    public virtual void Check(Func<string, bool> given)
    {
    }

    public static StrategyParameters Create(string strategy) => (StrategyParameters)Activator.CreateInstance(Strategies[strategy])!;

    /// <summary>The properties of a parameter class that are parameters, for a cmdlet that takes rollback options or not.</summary>
    public static IEnumerable<PropertyInfo> ParameterProperties(Type type, bool withRollbackOptions) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetCustomAttribute<ParameterAttribute>() is not null && (withRollbackOptions || p.GetCustomAttribute<RollbackOptionAttribute>() is null));

    /// <summary>
    /// The dynamic parameters: the named strategy's own, and every other strategy's hidden (DontShow), so that one given
    /// to the wrong strategy binds and is refused with ParameterNotForStrategy rather than "not found". With no
    /// strategy named (it may come from a piped object), every strategy's parameters are offered.
    /// </summary>
    public static RuntimeDefinedParameterDictionary Offer(string? strategy, bool withRollbackOptions, ISet<string> staticParameters)
    {
        var own = strategy is not null && Strategies.TryGetValue(strategy, out var type) ? type : null;
        var offered = new RuntimeDefinedParameterDictionary();
        foreach (var candidate in own is null ? Strategies.Values : Strategies.Values.Prepend(own))
        {
            foreach (var property in ParameterProperties(candidate, withRollbackOptions))
            {
                if (offered.ContainsKey(property.Name) || staticParameters.Contains(property.Name))
                {
                    continue;
                }

                var attributes = new Collection<Attribute>();
                foreach (var attribute in property.GetCustomAttributes(inherit: true).OfType<Attribute>().Where(a => a is not RollbackOptionAttribute))
                {
                    attributes.Add(attribute is ParameterAttribute declared && own is not null && candidate != own ? Hidden(declared) : attribute);
                }

                offered.Add(property.Name, new RuntimeDefinedParameter(property.Name, property.PropertyType, attributes));
            }
        }

        return offered;
    }

    /// <summary>The strategy's parameter object with the values bound to its parameters; the names of bound ones it does not have.</summary>
    public static (StrategyParameters Parameters, IReadOnlyList<string> Foreign) Bind(string strategy, RuntimeDefinedParameterDictionary? bound, bool withRollbackOptions)
    {
        var parameters = Create(strategy);
        var mine = ParameterProperties(parameters.GetType(), withRollbackOptions).ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        var foreign = new List<string>();
        foreach (var value in bound?.Values.Where(v => v.IsSet) ?? Enumerable.Empty<RuntimeDefinedParameter>())
        {
            if (mine.TryGetValue(value.Name, out var property))
            {
                property.SetValue(parameters, value.Value);
            }
            else
            {
                foreign.Add(value.Name);
            }
        }

        return (parameters, foreign);
    }

    /// <summary>The strategies whose parameter classes declare a parameter.</summary>
    public static IReadOnlyList<string> Owners(string parameter, bool withRollbackOptions) =>
        Strategies.Where(s => ParameterProperties(s.Value, withRollbackOptions).Any(p => p.Name.Equals(parameter, StringComparison.OrdinalIgnoreCase))).Select(s => s.Key).ToList();

    private static ParameterAttribute Hidden(ParameterAttribute declared) => new()
    {
        DontShow = true,
        ValueFromPipeline = declared.ValueFromPipeline,
        ValueFromPipelineByPropertyName = declared.ValueFromPipelineByPropertyName,
        Mandatory = false,
    };

    /// <summary>A hashtable parameter as a string dictionary (values as text).</summary>
    protected static IReadOnlyDictionary<string, string>? ToDictionary(System.Collections.Hashtable? table) =>
        table?.Cast<System.Collections.DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => e.Value?.ToString() ?? "", StringComparer.OrdinalIgnoreCase);

    protected static string? Plain(System.Security.SecureString? secret) => secret is null ? null : new System.Net.NetworkCredential("", secret).Password;
}
