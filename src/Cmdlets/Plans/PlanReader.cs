using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Reflection;
using System.Security;
using DeploymentRollback.Engine;

namespace DeploymentRollback.Commands;

/// <summary>
/// Reads a plan (a rollback.psd1 file or a hashtable) into the engine's ServicePlan: every component's keys are the
/// strategy's own parameters, checked and converted as the cmdlets would (the same parameter classes), with paths
/// relative to the plan file. Every problem is reported at once, with its error id and line.
/// </summary>
public sealed class PlanReader
{
    // Keys a component takes besides its strategy's parameters; the service takes the check keys too.
    private static readonly string[] CheckKeys = { "HealthCheckUri", "ExpectedStatus", "HealthCheckBody", "HealthCheckRetries", "HealthCheckRetryIntervalSec", "HealthCheckTimeoutSec", "SkipCertificateCheck", "SmokeTest", "RestartScript" };
    private static readonly string[] ComponentKeys = new[] { "Name", "Strategy", "DependsOn" }.Concat(CheckKeys).ToArray();
    private static readonly string[] ServiceKeys = new[] { "Service", "Components", "Description" }.Concat(CheckKeys).ToArray();
    private static readonly string[] PathKeys = { "Path", "KubeConfig" };

    private readonly Func<string, string> resolveFromCurrent;
    private readonly Func<object, string, ScriptAction> toScriptAction;
    private readonly List<PlanProblem> problems = new();
    private string folder = "";

    /// <param name="resolveFromCurrent">A path as PowerShell resolves it from its current location.</param>
    /// <param name="toScriptAction">A script block or script path as the cmdlets run it.</param>
    public PlanReader(Func<string, string> resolveFromCurrent, Func<object, string, ScriptAction> toScriptAction)
    {
        this.resolveFromCurrent = resolveFromCurrent;
        this.toScriptAction = toScriptAction;
    }

    /// <summary>A node of the plan: a value and the line it is on (0 for a hashtable given in memory).</summary>
    private sealed record Node(object? Value, int Line);

    /// <summary>The plan and what is wrong with it; the plan is null when anything is.</summary>
    public (ServicePlan? Plan, PlanValidation Validation) Read(object plan, IDictionary? componentParameters)
    {
        plan = plan is PSObject wrapped ? wrapped.BaseObject : plan;
        string? path = null;
        Dictionary<string, Node>? root;
        if (plan is string file)
        {
            path = resolveFromCurrent(file);
            folder = Path.GetDirectoryName(path) ?? "";
            root = Parse(path);
        }
        else if (plan is IDictionary table)
        {
            folder = resolveFromCurrent(".");
            root = FromMemory(table, 0).Value as Dictionary<string, Node>;
        }
        else
        {
            Problem(ErrorIds.PlanSyntaxInvalid, 0, null, $"-Plan takes the path of a plan file (rollback.psd1) or a hashtable, not a {plan.GetType().Name}.");
            root = null;
        }

        var validation = new PlanValidation { Path = path, Problems = problems };
        if (root is null)
        {
            return (null, validation);
        }

        var built = Build(root, componentParameters, validation);
        return (problems.Count == 0 ? built : null, validation);
    }

    /// <summary>The message of an invalid plan: every problem, one per line.</summary>
    public static RollbackException Invalid(PlanValidation validation) =>
        new(validation.Problems.Count == 1 ? validation.Problems[0].ErrorId : ErrorIds.PlanInvalid, RollbackErrorKind.InvalidArgument,
            $"The plan {validation.Path ?? "(hashtable)"} has {validation.Problems.Count} problem(s); nothing was read or changed:{Environment.NewLine}  " +
            string.Join(Environment.NewLine + "  ", validation.Problems.Select(p => $"{p} ({p.ErrorId})")) + Environment.NewLine +
            "Test-RollbackPlan lists them; see Get-Help about_DeploymentRollback (PLANS) for the keys a plan takes.")
        { TargetName = validation.Path };

    private Dictionary<string, Node>? Parse(string path)
    {
        if (!File.Exists(path))
        {
            Problem(ErrorIds.PlanFileNotFound, 0, null, $"The plan file {path} does not exist. Create one with New-RollbackPlan, or give the path of an existing rollback.psd1.");
            return null;
        }

        ScriptBlockAst ast;
        ParseError[] errors;
        try
        {
            ast = Parser.ParseFile(path, out _, out errors);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Problem(ErrorIds.PlanFileUnreadable, 0, null, $"The plan file {path} cannot be read ({e.Message}). Check its permissions.");
            return null;
        }

        foreach (var error in errors)
        {
            Problem(ErrorIds.PlanSyntaxInvalid, error.Extent.StartLineNumber, null, $"{error.Message} A plan file is a PowerShell data file: one hashtable @{{ ... }}.");
        }

        if (errors.Length > 0)
        {
            return null;
        }

        if (ast.EndBlock?.Statements is not [PipelineAst { PipelineElements: [CommandExpressionAst { Expression: HashtableAst table }] }] || ast.ParamBlock is not null || ast.BeginBlock is not null || ast.ProcessBlock is not null)
        {
            Problem(ErrorIds.PlanSyntaxInvalid, 1, null, "A plan file holds exactly one hashtable @{ Service = ...; Components = @( ... ) } and nothing else.");
            return null;
        }

        return FromAst(table).Value as Dictionary<string, Node>;
    }

    /// <summary>Only data, as Import-PowerShellDataFile allows: a variable, a command or a script block is refused with its line.</summary>
    private Node FromAst(Ast ast)
    {
        var line = ast.Extent.StartLineNumber;
        switch (ast)
        {
            case HashtableAst table:
                var keys = new Dictionary<string, Node>(StringComparer.OrdinalIgnoreCase);
                foreach (var (key, value) in table.KeyValuePairs)
                {
                    var name = key is StringConstantExpressionAst text ? text.Value : key.Extent.Text;
                    if (keys.ContainsKey(name))
                    {
                        Problem(ErrorIds.PlanSyntaxInvalid, key.Extent.StartLineNumber, null, $"The key '{name}' is given twice in one hashtable.");
                        continue;
                    }

                    keys[name] = FromAst(value) with { Line = key.Extent.StartLineNumber };
                }

                return new Node(keys, line);
            case PipelineAst { PipelineElements: [CommandExpressionAst single] }:
                return FromAst(single.Expression);
            case CommandExpressionAst command:
                return FromAst(command.Expression);
            case ArrayExpressionAst array:
                return new Node(array.SubExpression.Statements.SelectMany(s => Flatten(FromAst(s))).ToList(), line);
            case ArrayLiteralAst literal:
                return new Node(literal.Elements.Select(FromAst).ToList(), line);
            case ParenExpressionAst paren:
                return FromAst(paren.Pipeline);
            default:
                try
                {
                    return new Node(ast.SafeGetValue(), line);
                }
                catch (InvalidOperationException)
                {
                    Problem(ErrorIds.PlanSyntaxInvalid, line, null, $"'{Abbreviate(ast.Extent.Text)}' is not a constant: a plan file holds only data (strings, numbers, $true/$false, arrays, hashtables). Pass what must be computed, or secret, with -ComponentParameter.");
                    return new Node(null, line);
                }
        }
    }

    /// <summary>A node as PowerShell would bind it: a hashtable, an array or a value.</summary>
    private static object? Plain(Node node) => node.Value switch
    {
        Dictionary<string, Node> keys => new Hashtable(keys.ToDictionary(k => k.Key, k => Plain(k.Value)), StringComparer.OrdinalIgnoreCase),
        List<Node> items => items.Select(Plain).ToArray(),
        var value => value,
    };

    private static IEnumerable<Node> Flatten(Node node) => node.Value is List<Node> list ? list : new[] { node };

    private static Node FromMemory(object? value, int line)
    {
        value = value is PSObject wrapped ? wrapped.BaseObject : value;
        return value switch
        {
            IDictionary table => new Node(table.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => FromMemory(e.Value, line), StringComparer.OrdinalIgnoreCase), line),
            string or SecureString or PSCredential or ScriptBlock => new Node(value, line),
            IEnumerable items => new Node(items.Cast<object?>().Select(i => FromMemory(i, line)).ToList(), line),
            _ => new Node(value, line),
        };
    }

    private ServicePlan? Build(Dictionary<string, Node> root, IDictionary? componentParameters, PlanValidation validation)
    {
        foreach (var unknown in root.Where(k => !ServiceKeys.Contains(k.Key, StringComparer.OrdinalIgnoreCase)))
        {
            Problem(ErrorIds.PlanParameterUnknown, unknown.Value.Line, null, $"'{unknown.Key}' is not a key of a plan. A plan takes: {string.Join(", ", ServiceKeys)}.");
        }

        var service = root.TryGetValue("Service", out var serviceNode) ? Text(serviceNode) : null;
        if (string.IsNullOrWhiteSpace(service) || service.Any(c => char.IsWhiteSpace(c) || c is '/' or '\\' or ':'))
        {
            Problem(ErrorIds.PlanServiceMissing, serviceNode?.Line ?? 1, null, "The plan needs Service = '<name>' (a name without spaces, slashes or colons): the service the components make up, its key in the journal.");
        }

        validation.Service = service;
        var components = new List<PlanComponent>();
        var declared = root.TryGetValue("Components", out var list) ? list.Value as List<Node> ?? (list.Value is Dictionary<string, Node> ? new List<Node> { list } : null) : null;
        if (declared is null || declared.Count == 0)
        {
            Problem(ErrorIds.PlanComponentInvalid, list?.Line ?? 1, null, "The plan needs Components = @( @{ Name = ...; Strategy = ...; <the strategy's parameters> }, ... ).");
            declared = new List<Node>();
        }

        var extra = ExtraParameters(componentParameters, declared);
        foreach (var node in declared)
        {
            if (node.Value is not Dictionary<string, Node> keys)
            {
                Problem(ErrorIds.PlanComponentInvalid, node.Line, null, "Each component is a hashtable @{ Name = ...; Strategy = ...; ... }.");
                continue;
            }

            if (ReadComponent(keys, node.Line, extra) is { } component)
            {
                if (components.Any(c => c.Name.Equals(component.Name, StringComparison.OrdinalIgnoreCase)))
                {
                    Problem(ErrorIds.PlanComponentDuplicate, node.Line, component.Name, $"Two components are named '{component.Name}'; each needs its own name.");
                    continue;
                }

                components.Add(component);
            }
        }

        CheckDependencies(components);
        var verification = Checks(root, null);
        var restart = Script(root, "RestartScript", null, "restart script");
        if (problems.Count > 0 || service is null)
        {
            return null;
        }

        var waves = PlanOrder.Waves(components.Select(c => (c.Name, c.Stage, c.DependsOn)).ToList());
        validation.Components = components
            .Select(c => new ComponentAssessment { Name = c.Name, Strategy = c.Request.Strategy, Stage = c.Stage, Wave = waves[c.Name], DependsOn = c.DependsOn.ToList() })
            .OrderBy(c => c.Wave).ThenBy(c => c.Name, StringComparer.OrdinalIgnoreCase).ToList();
        return new ServicePlan { Service = service, Path = validation.Path, Components = components, Verification = verification, RestartScript = restart.FirstOrDefault() };
    }

    /// <summary>-ComponentParameter: per component name, parameters given at run time (secrets, computed values); they win over the file's.</summary>
    private Dictionary<string, Dictionary<string, Node>> ExtraParameters(IDictionary? given, List<Node> declared)
    {
        var extra = new Dictionary<string, Dictionary<string, Node>>(StringComparer.OrdinalIgnoreCase);
        var names = declared.Select(d => d.Value is Dictionary<string, Node> keys && keys.TryGetValue("Name", out var name) ? Text(name) : null).Where(n => n is not null).ToList();
        foreach (DictionaryEntry entry in given ?? new Hashtable())
        {
            var name = entry.Key.ToString()!;
            if (!names.Contains(name, StringComparer.OrdinalIgnoreCase))
            {
                Problem(ErrorIds.PlanComponentUnknown, 0, name, $"-ComponentParameter names '{name}', which is not a component of the plan ({string.Join(", ", names)}).");
            }
            else if (FromMemory(entry.Value, 0).Value is Dictionary<string, Node> parameters)
            {
                extra[name] = parameters;
            }
            else
            {
                Problem(ErrorIds.PlanParameterInvalid, 0, name, $"-ComponentParameter['{name}'] must be a hashtable of parameters, such as @{{ ApiToken = $token }}.");
            }
        }

        return extra;
    }

    private PlanComponent? ReadComponent(Dictionary<string, Node> keys, int line, Dictionary<string, Dictionary<string, Node>> extra)
    {
        var name = keys.TryGetValue("Name", out var nameNode) ? Text(nameNode) : null;
        if (string.IsNullOrWhiteSpace(name))
        {
            Problem(ErrorIds.PlanComponentInvalid, line, null, "A component needs Name = '<name>' (how the plan, -Component and -SkipComponent refer to it).");
            return null;
        }

        var strategyName = keys.TryGetValue("Strategy", out var strategyNode) ? Text(strategyNode) : null;
        if (strategyName is null || !StrategyParameters.Strategies.ContainsKey(strategyName))
        {
            Problem(ErrorIds.PlanStrategyUnknown, strategyNode?.Line ?? line, name,
                $"Component '{name}': {(strategyName is null ? "Strategy is missing" : $"'{strategyName}' is not a rollback strategy")}. Use one of: {string.Join(", ", StrategyParameters.Strategies.Keys)}.");
            return null;
        }

        // Run-time values of the component's own keys (its checks, its restart script) win over the file's, as its parameters do.
        if (extra.TryGetValue(name, out var runTime))
        {
            foreach (var key in runTime.Keys.Where(k => ComponentKeys.Skip(2).Contains(k, StringComparer.OrdinalIgnoreCase)).ToList())
            {
                keys[key] = runTime[key];
                runTime.Remove(key);
            }
        }

        var parameters = StrategyParameters.Create(strategyName);
        var properties = StrategyParameters.ParameterProperties(parameters.GetType(), withRollbackOptions: true).ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        var given = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var fromFile = keys.Where(k => !ComponentKeys.Contains(k.Key, StringComparer.OrdinalIgnoreCase)).Select(k => (k.Key, k.Value, InFile: true));
        var atRunTime = extra.TryGetValue(name, out var more) ? more.Select(k => (k.Key, k.Value, InFile: false)) : Enumerable.Empty<(string, Node, bool)>();
        var before = problems.Count;
        foreach (var (key, node, inFile) in fromFile.Concat(atRunTime))
        {
            if (!properties.TryGetValue(key, out var property))
            {
                Problem(ErrorIds.PlanParameterUnknown, node.Line, name,
                    $"Component '{name}': '{key}' is not a parameter of -Strategy {parameters.Strategy}. Its parameters: {string.Join(", ", properties.Keys.Concat(ComponentKeys.Skip(2)))}.");
                continue;
            }

            if (inFile && (property.PropertyType == typeof(SecureString) || property.PropertyType == typeof(PSCredential)))
            {
                Problem(ErrorIds.PlanParameterInvalid, node.Line, name,
                    $"Component '{name}': {key} is a secret and is never kept in a plan file. Pass it at run time: -ComponentParameter @{{ '{name}' = @{{ {key} = ... }} }}.");
                continue;
            }

            if (Convert(node, property, name) is { } value)
            {
                property.SetValue(parameters, value.Item1);
                given.Add(property.Name);
            }
        }

        if (problems.Count > before)
        {
            return null;
        }

        // The component's Name names the workload or container too (its strategy's -Name), unless a selector picks them.
        if (properties.TryGetValue("Name", out var targetName) && !keys.ContainsKey("Selector"))
        {
            targetName.SetValue(parameters, name);
            given.Add(targetName.Name);
        }

        try
        {
            parameters.Check(given.Contains);
            var deployment = parameters.ToTarget(null, new PathResolver(p => Path.GetFullPath(p, folder), () => folder));
            CheckReferencedPaths(parameters, given, keys, name);
            var request = new RollbackRequest { Deployment = deployment, Verification = Checks(keys, name), RestartScript = Script(keys, "RestartScript", name, "restart script").FirstOrDefault() };
            var dependsOn = keys.TryGetValue("DependsOn", out var dependencies) ? Flatten(dependencies).Select(Text).Where(d => d is not null).Cast<string>().ToList() : new List<string>();
            return new PlanComponent { Name = name, Request = request with { SkipCertificateCheck = request.Verification.HealthChecks.Any(h => h.SkipCertificateCheck) }, DependsOn = dependsOn, Line = line };
        }
        catch (RollbackException e)
        {
            Problem(e.ErrorId == ErrorIds.ParameterNotForStrategy ? ErrorIds.PlanParameterInvalid : e.ErrorId, line, name, $"Component '{name}': {e.Message}");
            return null;
        }
    }

    /// <summary>A value converted to the parameter's type and checked against its ValidateSet and ValidateRange, as binding would.</summary>
    private Tuple<object?>? Convert(Node node, PropertyInfo property, string component)
    {
        try
        {
            var raw = Plain(node);
            var value = property.PropertyType == typeof(SwitchParameter)
                ? new SwitchParameter(LanguagePrimitives.IsTrue(raw))
                : LanguagePrimitives.ConvertTo(raw, property.PropertyType, CultureInfo.InvariantCulture);
            if (property.GetCustomAttribute<ValidateSetAttribute>() is { } set && value is string text && !set.ValidValues.Contains(text, StringComparer.OrdinalIgnoreCase))
            {
                throw new ArgumentException($"'{text}' is not one of {string.Join(", ", set.ValidValues)}");
            }

            if (property.GetCustomAttribute<ValidateRangeAttribute>() is { MinRange: IComparable min, MaxRange: IComparable max } && value is IComparable number
                && (number.CompareTo(System.Convert.ChangeType(min, value.GetType(), CultureInfo.InvariantCulture)) < 0 || number.CompareTo(System.Convert.ChangeType(max, value.GetType(), CultureInfo.InvariantCulture)) > 0))
            {
                throw new ArgumentException($"{value} is outside {min}..{max}");
            }

            return new Tuple<object?>(value);
        }
        catch (Exception e) when (e is PSInvalidCastException or ArgumentException or InvalidCastException or FormatException)
        {
            Problem(ErrorIds.PlanParameterInvalid, node.Line, component, $"Component '{component}': {property.Name} = '{Abbreviate(string.Join(", ", Flatten(node).Select(n => n.Value)))}' is not valid: {e.Message}.");
            return null;
        }
    }

    /// <summary>A file or folder the component names must exist when the plan is read (so a typo fails before the incident).</summary>
    private void CheckReferencedPaths(StrategyParameters parameters, HashSet<string> given, Dictionary<string, Node> keys, string component)
    {
        foreach (var key in PathKeys.Where(given.Contains))
        {
            if (parameters.GetType().GetProperty(key)?.GetValue(parameters) is string value && !(Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"))
            {
                var full = Path.GetFullPath(value, folder);
                if (!File.Exists(full) && !Directory.Exists(full))
                {
                    Problem(ErrorIds.PlanReferencedFileMissing, keys.TryGetValue(key, out var node) ? node.Line : 0, component,
                        $"Component '{component}': {key} '{value}' does not exist ({full}). Paths in a plan are relative to the plan file's folder.");
                }
            }
        }
    }

    private VerificationOptions Checks(Dictionary<string, Node> keys, string? component)
    {
        var uris = keys.TryGetValue("HealthCheckUri", out var uriNode) ? Flatten(uriNode).ToList() : new List<Node>();
        var checks = new List<HealthCheckOptions>();
        try
        {
            var expected = keys.TryGetValue("ExpectedStatus", out var status) ? LanguagePrimitives.ConvertTo<int[]>(Flatten(status).Select(n => n.Value).ToArray()) : Array.Empty<int>();
            var body = keys.TryGetValue("HealthCheckBody", out var bodyNode) ? HealthCheckOptions.ValidateBodyPattern(Text(bodyNode)) : null;
            var retries = keys.TryGetValue("HealthCheckRetries", out var r) ? LanguagePrimitives.ConvertTo<int>(r.Value) : 3;
            var interval = keys.TryGetValue("HealthCheckRetryIntervalSec", out var i) ? LanguagePrimitives.ConvertTo<double>(i.Value) : 2;
            var timeout = keys.TryGetValue("HealthCheckTimeoutSec", out var t) ? LanguagePrimitives.ConvertTo<double>(t.Value) : 10;
            var skip = keys.TryGetValue("SkipCertificateCheck", out var s) && LanguagePrimitives.IsTrue(s.Value);
            foreach (var uri in uris)
            {
                checks.Add(new HealthCheckOptions
                {
                    Uri = HealthCheckOptions.ParseUri(Text(uri) ?? ""), ExpectedStatus = expected, BodyPattern = body, Retries = retries,
                    Interval = TimeSpan.FromSeconds(interval), Timeout = TimeSpan.FromSeconds(timeout), SkipCertificateCheck = skip,
                });
            }
        }
        catch (RollbackException e)
        {
            Problem(e.ErrorId, uriNode?.Line ?? 0, component, (component is null ? "" : $"Component '{component}': ") + e.Message);
        }
        catch (PSInvalidCastException e)
        {
            Problem(ErrorIds.PlanParameterInvalid, uriNode?.Line ?? 0, component, (component is null ? "" : $"Component '{component}': ") + $"a health check setting is not valid: {e.Message}");
        }

        return new VerificationOptions { HealthChecks = checks, SmokeTests = Script(keys, "SmokeTest", component, "smoke test") };
    }

    /// <summary>Smoke tests and restart scripts: a script path relative to the plan file (it must exist), or a script block from a hashtable.</summary>
    private List<ScriptAction> Script(Dictionary<string, Node> keys, string key, string? component, string what)
    {
        var actions = new List<ScriptAction>();
        if (!keys.TryGetValue(key, out var node))
        {
            return actions;
        }

        foreach (var item in Flatten(node))
        {
            var value = item.Value is string path ? Path.GetFullPath(path, folder) : item.Value;
            if (value is string full && !File.Exists(full))
            {
                Problem(ErrorIds.PlanReferencedFileMissing, item.Line, component,
                    $"{(component is null ? "The plan's" : $"Component '{component}':")} {what} '{item.Value}' does not exist ({full}). Paths in a plan are relative to the plan file's folder.");
                continue;
            }

            try
            {
                actions.Add(toScriptAction(value!, what));
            }
            catch (RollbackException e)
            {
                Problem(e.ErrorId, item.Line, component, e.Message);
            }
        }

        return actions;
    }

    private void CheckDependencies(List<PlanComponent> components)
    {
        foreach (var component in components)
        {
            foreach (var missing in component.DependsOn.Where(d => !components.Any(c => c.Name.Equals(d, StringComparison.OrdinalIgnoreCase))))
            {
                Problem(ErrorIds.PlanDependencyUnknown, component.Line, component.Name, $"Component '{component.Name}' depends on '{missing}', which is not a component of the plan.");
            }
        }

        var graph = components.ToDictionary(c => c.Name, c => (IReadOnlyList<string>)c.DependsOn, StringComparer.OrdinalIgnoreCase);
        if (PlanOrder.FindCycle(graph) is { } cycle)
        {
            var first = components.First(c => c.Name.Equals(cycle[0], StringComparison.OrdinalIgnoreCase));
            Problem(ErrorIds.PlanDependencyCycle, first.Line, first.Name, $"DependsOn goes round in a circle: {string.Join(" -> ", cycle)}. Remove one of these dependencies.");
        }
    }

    private static string? Text(Node? node) => node?.Value is string or ValueType ? System.Convert.ToString(node.Value, CultureInfo.InvariantCulture) : null;

    private static string Abbreviate(string text) => text.Length > 60 ? text[..60] + "..." : text;

    private void Problem(string errorId, int line, string? component, string message) =>
        problems.Add(new PlanProblem { ErrorId = errorId, Line = line, Component = component, Message = message });
}
