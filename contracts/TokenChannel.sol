// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

/// @dev The part of ERC-20 the channel uses. Calls go through _safeTransfer* so tokens that return
///      nothing (e.g. USDT) work as well as those that return a bool.
interface IERC20Minimal {
    function balanceOf(address account) external view returns (uint256);
}

/// @title TokenChannel
/// @notice A registry of unidirectional ERC-20 payment channels, the token twin of UnidirectionalChannel.
///         The sender approves this contract, then opens a channel that pulls the deposit with transferFrom.
///         The recipient redeems EIP-712 signed cumulative claims (the same Claim shape and domain name as
///         UnidirectionalChannel; the verifying contract differs) and is paid in the channel's token. The
///         sender may start closing; after the dispute period anyone may finalize, refunding the rest.
/// @dev Each channel records its token, so a claim (bound to a channel id) can only ever pay that token.
///      Tokens that take a fee on transfer are refused at open/deposit (the received amount must equal the
///      amount asked for), so the deposit always equals what the contract holds for the channel.
contract TokenChannel {
    struct Channel {
        address sender;
        address recipient;
        address token;
        uint256 deposit;       // total token units ever deposited
        uint256 claimed;       // cumulative token units paid out to the recipient
        uint256 disputePeriod; // seconds between startClose and the earliest finalize
        uint256 closesAt;      // 0 while open; else the earliest timestamp finalize may run
        bool finalized;
    }

    bytes32 public constant CLAIM_TYPEHASH = keccak256("Claim(bytes32 channelId,uint256 cumulativeAmount)");
    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("M2MChannel");
    bytes32 private constant VERSION_HASH = keccak256("1");
    // secp256k1n / 2: signatures with a higher s are malleable and rejected.
    uint256 private constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    mapping(bytes32 => Channel) public channels;
    uint256 public channelCount;
    bool private locked;

    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed sender,
        address indexed recipient,
        address token,
        uint256 deposit,
        uint256 disputePeriod
    );
    event Deposited(bytes32 indexed channelId, uint256 amount, uint256 totalDeposit);
    event Claimed(bytes32 indexed channelId, address indexed recipient, uint256 paid, uint256 cumulativeClaimed);
    event CloseStarted(bytes32 indexed channelId, uint256 closesAt);
    event Finalized(bytes32 indexed channelId, uint256 refunded, uint256 totalClaimed);

    modifier nonReentrant() {
        require(!locked, "reentrant call");
        locked = true;
        _;
        locked = false;
    }

    /// @notice Opens a channel from msg.sender to recipient paying `token`, pulling `amount` with transferFrom
    ///         (approve this contract for at least `amount` first).
    function open(address token, address recipient, uint256 amount, uint256 disputePeriod)
        external
        nonReentrant
        returns (bytes32 channelId)
    {
        require(token.code.length > 0, "token is not a contract");
        require(recipient != address(0), "zero recipient");
        require(recipient != msg.sender, "recipient is sender");
        require(amount > 0, "zero deposit");
        require(disputePeriod > 0 && disputePeriod <= 365 days, "bad dispute period");
        channelCount += 1;
        channelId = keccak256(abi.encode(address(this), block.chainid, msg.sender, recipient, token, channelCount));
        channels[channelId] = Channel({
            sender: msg.sender,
            recipient: recipient,
            token: token,
            deposit: amount,
            claimed: 0,
            disputePeriod: disputePeriod,
            closesAt: 0,
            finalized: false
        });
        _pull(token, msg.sender, amount);
        emit ChannelOpened(channelId, msg.sender, recipient, token, amount, disputePeriod);
    }

    /// @notice Adds `amount` of the channel's token to its deposit. Only the sender, and only while not closing.
    function deposit(bytes32 id, uint256 amount) external nonReentrant {
        Channel storage c = channels[id];
        require(c.sender != address(0), "no such channel");
        require(msg.sender == c.sender, "not sender");
        require(c.closesAt == 0, "channel closing");
        require(amount > 0, "zero deposit");
        c.deposit += amount;
        _pull(c.token, msg.sender, amount);
        emit Deposited(id, amount, c.deposit);
    }

    /// @notice Redeems a sender-signed cumulative claim; pays cumulativeAmount - claimed tokens to the recipient.
    function claim(bytes32 id, uint256 cumulativeAmount, bytes calldata signature) external nonReentrant {
        Channel storage c = channels[id];
        require(c.sender != address(0), "no such channel");
        require(msg.sender == c.recipient, "not recipient");
        require(!c.finalized, "channel finalized");
        require(cumulativeAmount > c.claimed, "claim not above claimed");
        require(cumulativeAmount <= c.deposit, "claim exceeds deposit");
        require(recoverSigner(claimDigest(id, cumulativeAmount), signature) == c.sender, "bad signature");

        uint256 payout = cumulativeAmount - c.claimed;
        c.claimed = cumulativeAmount;
        emit Claimed(id, c.recipient, payout, cumulativeAmount);
        _safeTransfer(c.token, c.recipient, payout);
    }

    /// @notice Starts the dispute period. Only the sender.
    function startClose(bytes32 id) external {
        Channel storage c = channels[id];
        require(c.sender != address(0), "no such channel");
        require(msg.sender == c.sender, "not sender");
        require(!c.finalized, "channel finalized");
        require(c.closesAt == 0, "already closing");
        c.closesAt = block.timestamp + c.disputePeriod;
        emit CloseStarted(id, c.closesAt);
    }

    /// @notice After the dispute period, refunds the unclaimed rest to the sender. Anyone may call it.
    function finalize(bytes32 id) external nonReentrant {
        Channel storage c = channels[id];
        require(c.sender != address(0), "no such channel");
        require(!c.finalized, "channel finalized");
        require(c.closesAt != 0, "not closing");
        require(block.timestamp >= c.closesAt, "dispute period not over");
        c.finalized = true;
        uint256 refund = c.deposit - c.claimed;
        emit Finalized(id, refund, c.claimed);
        if (refund > 0) _safeTransfer(c.token, c.sender, refund);
    }

    /// @notice The EIP-712 domain separator for this contract on the current chain.
    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @notice The EIP-712 digest the sender signs for a claim.
    function claimDigest(bytes32 id, uint256 cumulativeAmount) public view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(CLAIM_TYPEHASH, id, cumulativeAmount));
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    /// @dev transferFrom(from, this, amount), refusing tokens that deliver less than asked (fee on transfer).
    function _pull(address token, address from, uint256 amount) private {
        uint256 before = IERC20Minimal(token).balanceOf(address(this));
        (bool ok, bytes memory data) =
            token.call(abi.encodeWithSelector(0x23b872dd, from, address(this), amount)); // transferFrom
        require(ok && (data.length == 0 || abi.decode(data, (bool))), "token transferFrom failed");
        require(IERC20Minimal(token).balanceOf(address(this)) - before == amount, "token took a fee");
    }

    function _safeTransfer(address token, address to, uint256 amount) private {
        (bool ok, bytes memory data) = token.call(abi.encodeWithSelector(0xa9059cbb, to, amount)); // transfer
        require(ok && (data.length == 0 || abi.decode(data, (bool))), "token transfer failed");
    }

    /// @dev Returns address(0) for any malformed or malleable signature.
    function recoverSigner(bytes32 digest, bytes calldata signature) internal pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 32))
            v := byte(0, calldataload(add(signature.offset, 64)))
        }
        if (v < 27) v += 27;
        if (v != 27 && v != 28) return address(0);
        if (uint256(s) > HALF_N || uint256(s) == 0 || uint256(r) == 0) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
