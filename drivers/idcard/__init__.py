"""二代身份证 (second-generation resident ID card) readers: the SAM serial protocol, the card's
identity block, a pyserial driver and a pseudo-terminal simulator."""
