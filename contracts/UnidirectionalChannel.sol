// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.20;

/// @title UnidirectionalChannel
/// @notice A registry of unidirectional ETH payment channels. The sender deposits ETH and hands the
///         recipient off-chain EIP-712 signed claims over a monotonically increasing cumulative amount.
///         The recipient may redeem the latest claim at any time before the channel is finalized (also
///         repeatedly, each time receiving only the difference to what was already claimed). The sender
///         may start closing; after the dispute period anyone may finalize, refunding the rest to the sender.
/// @dev No external imports. Claim digest: EIP-712 typed data
///      Claim(bytes32 channelId,uint256 cumulativeAmount) with domain
///      {name "M2MChannel", version "1", chainId, verifyingContract}.
contract UnidirectionalChannel {
    struct Channel {
        address sender;
        address recipient;
        uint256 deposit;       // total wei ever deposited
        uint256 claimed;       // cumulative wei paid out to the recipient
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

    /// @notice Opens a channel from msg.sender to recipient with msg.value as the initial deposit.
    function open(address recipient, uint256 disputePeriod) external payable returns (bytes32 channelId) {
        require(recipient != address(0), "zero recipient");
        require(recipient != msg.sender, "recipient is sender");
        require(msg.value > 0, "zero deposit");
        require(disputePeriod > 0 && disputePeriod <= 365 days, "bad dispute period");
        channelCount += 1;
        channelId = keccak256(abi.encode(address(this), block.chainid, msg.sender, recipient, channelCount));
        channels[channelId] = Channel({
            sender: msg.sender,
            recipient: recipient,
            deposit: msg.value,
            claimed: 0,
            disputePeriod: disputePeriod,
            closesAt: 0,
            finalized: false
        });
        emit ChannelOpened(channelId, msg.sender, recipient, msg.value, disputePeriod);
    }

    /// @notice Adds msg.value to the channel's deposit. Only the sender, and only while not closing.
    function deposit(bytes32 id) external payable {
        Channel storage c = channels[id];
        require(c.sender != address(0), "no such channel");
        require(msg.sender == c.sender, "not sender");
        require(c.closesAt == 0, "channel closing");
        require(msg.value > 0, "zero deposit");
        c.deposit += msg.value;
        emit Deposited(id, msg.value, c.deposit);
    }

    /// @notice Redeems a sender-signed cumulative claim; pays cumulativeAmount - claimed to the recipient.
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
        (bool ok, ) = payable(c.recipient).call{value: payout}("");
        require(ok, "payout failed");
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
        if (refund > 0) {
            (bool ok, ) = payable(c.sender).call{value: refund}("");
            require(ok, "refund failed");
        }
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
