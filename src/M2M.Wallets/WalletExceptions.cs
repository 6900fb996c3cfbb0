namespace M2M.Wallets;

/// <summary>The wallet password does not decrypt the vault. Nothing was changed.</summary>
public sealed class WalletPasswordException : Exception
{
    public WalletPasswordException() : base("wrong wallet password") { }
    public WalletPasswordException(string message) : base(message) { }
}

/// <summary>A lifecycle change that the current status does not allow (e.g. archived → active).</summary>
public sealed class WalletTransitionException(string message) : InvalidOperationException(message);

/// <summary>No wallet for the agent id.</summary>
public sealed class WalletNotFoundException(string agentId) : KeyNotFoundException($"no wallet for agent '{agentId}'")
{
    public string AgentId { get; } = agentId;
}

/// <summary>The store is not in a state this operation accepts (wrong schema version, mismatched mnemonic, ...).</summary>
public sealed class WalletStoreException(string message, Exception? inner = null) : InvalidOperationException(message, inner);

/// <summary>A migration was refused or failed; the store is left as it was.</summary>
public sealed class WalletMigrationException(string message, Exception? inner = null) : InvalidOperationException(message, inner);

/// <summary>A backup file is unreadable, corrupted or inconsistent; nothing was changed.</summary>
public sealed class WalletBackupException(string message, Exception? inner = null) : InvalidOperationException(message, inner);
